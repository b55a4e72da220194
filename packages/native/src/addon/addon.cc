// nagaya_native: the Node side of the launcher. Flat and thin on purpose: it starts the launcher
// daemon and carries messages to and from it, and applies nft scripts in process (nft_run.cc);
// plans, validation and policy live in TypeScript.
#include <napi.h>

#include "launcher_connection.h"
#include "nft_run.h"
#include "spawn_launcher.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnLauncher", Napi::Function::New(env, SpawnLauncher, "spawnLauncher"));
  exports.Set("nftRun", Napi::Function::New(env, NftRun, "nftRun"));
  LauncherConnection::Init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(nagaya_native, Init)
