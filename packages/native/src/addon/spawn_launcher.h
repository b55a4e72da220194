// Starting the launcher daemon without forking Node.
#pragma once
#include <napi.h>

// spawnLauncher(launcherPath, stateDir) -> { status, stderr }: runs the launcher, which forks its
// daemon and exits once the daemon listens; status 0 ready, 3 already running.
Napi::Value SpawnLauncher(const Napi::CallbackInfo &info);
