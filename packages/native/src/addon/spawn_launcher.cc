// Starting the launcher daemon without forking Node: posix_spawn uses CLONE_VM|CLONE_VFORK, so it
// does not copy Node's page tables (a fork-style spawn costs more the bigger Node's heap is and
// leaves Node paying copy-on-write faults). The launcher's first process forks the daemon and
// exits when the daemon is ready, so waiting for it here is short and leaves no zombie.
#include "spawn_launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "unique_fd.h"

extern char **environ;

namespace {

struct SpawnAttributes {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnAttributes() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnAttributes() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
};

}  // namespace

Napi::Value SpawnLauncher(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString() || (info.Length() > 2 && !info[2].IsArray())) {
    throw Napi::TypeError::New(env, "spawnLauncher(launcherPath: string, stateDir: string, options?: string[])");
  }
  std::string launcher = info[0].As<Napi::String>();
  std::string state_dir = info[1].As<Napi::String>();
  std::vector<std::string> options;
  if (info.Length() > 2) {
    Napi::Array list = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsString()) throw Napi::TypeError::New(env, "spawnLauncher: options must be strings");
      options.push_back(v.As<Napi::String>());
    }
  }

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) throw Napi::Error::New(env, std::string("pipe2: ") + strerror(errno));
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

  SpawnAttributes s;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &all);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&s.actions, write_end.get(), 2);

  std::vector<const char *> argv = {launcher.c_str(), "--state-dir", state_dir.c_str()};
  for (const std::string &o : options) argv.push_back(o.c_str());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, launcher.c_str(), &s.actions, &s.attr, const_cast<char *const *>(argv.data()), environ);
  write_end.reset();
  if (rc != 0) throw Napi::Error::New(env, "posix_spawn " + launcher + ": " + strerror(rc));

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  std::string err_text;
  char buf[1024];
  ssize_t n;
  while ((n = read(read_end.get(), buf, sizeof buf)) > 0) err_text.append(buf, static_cast<size_t>(n));

  Napi::Object result = Napi::Object::New(env);
  result.Set("status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  result.Set("stderr", err_text);
  return result;
}
