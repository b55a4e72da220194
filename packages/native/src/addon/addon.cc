// nagaya_native: the Node side of the launcher. Flat and thin on purpose: it starts the launcher
// daemon and carries messages to and from it; plans, validation and policy live in TypeScript.
#include <napi.h>

#include "launcher_connection.h"
#include "spawn_launcher.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnLauncher", Napi::Function::New(env, SpawnLauncher, "spawnLauncher"));
  LauncherConnection::Init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nagaya_native, Init)
