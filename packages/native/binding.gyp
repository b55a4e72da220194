{
  "targets": [
    {
      "target_name": "nagaya_native",
      "sources": [
        "src/addon/addon.cc",
        "src/addon/launcher_connection.cc",
        "src/addon/spawn_launcher.cc",
        "src/addon/nft_run.cc"
      ],
      "libraries": ["-ldl"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"]
    },
    {
      "target_name": "nagaya-launcher",
      "type": "executable",
      "sources": [
        "src/launcher/main.c",
        "src/launcher/daemon.c",
        "src/launcher/loop.c",
        "src/launcher/event_set.c",
        "src/launcher/recovery.c",
        "src/launcher/registry.c",
        "src/launcher/replies.c",
        "src/launcher/requests.c",
        "src/launcher/deferred.c",
        "src/launcher/containers.c",
        "src/launcher/exec_requests.c",
        "src/launcher/cgroup_requests.c",
        "src/launcher/log_watch.c",
        "src/launcher/run_io.c",
        "src/launcher/spawn.c",
        "src/launcher/image_layers.c",
        "src/launcher/container_child.c",
        "src/launcher/container_init.c",
        "src/launcher/container_mounts.c",
        "src/launcher/container_net.c",
        "src/launcher/veth.c",
        "src/launcher/cgroups.c",
        "src/launcher/capabilities.c",
        "src/launcher/console_log.c",
        "src/launcher/console_index.c",
        "src/launcher/seccomp.c",
        "src/launcher/exec_session.c",
        "src/launcher/launch_request.c",
        "src/launcher/request_fields.c",
        "src/launcher/parse_i64.c",
        "src/launcher/json_text.c",
        "src/launcher/protocol.c",
        "src/launcher/state_files.c",
        "src/launcher/write_text.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing", "-Wno-format-truncation"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "nagaya-extract",
      "type": "executable",
      "sources": [
        "src/extract/main.c",
        "src/extract/container_root.c",
        "src/extract/dir_modes.c",
        "src/extract/fail.c",
        "src/extract/input.c",
        "src/extract/limits.c",
        "src/extract/partial_file.c",
        "src/extract/report.c",
        "src/extract/safe_path.c",
        "src/extract/tar_header.c",
        "src/extract/whiteouts.c",
        "src/extract/write_entry.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing", "-Wno-format-truncation"],
      "ldflags": ["-static"]
    }
  ]
}
