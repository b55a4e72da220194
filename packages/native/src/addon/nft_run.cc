// nftRun(script) -> Promise<void>: an nft script applied through libnftables, in a thread of the
// libuv pool, instead of an `nft -f -` process per script. A process costs about 2.5 ms of CPU
// and wall time to start (fork, exec, library and cache set-up); the same "add element" through
// the library takes about 0.05 ms, and a container's network is two such scripts (attach, detach).
// libnftables is opened with dlopen, not linked: a host without it (or the -dev package at build
// time) still runs nagaya, and the caller falls back to the nft command (code NFT_UNAVAILABLE).
#include "nft_run.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace {

struct nft_ctx;
using NftCtxNew = nft_ctx *(*)(unsigned int flags);
using NftCtxFree = void (*)(nft_ctx *ctx);
using NftRunCmdFromBuffer = int (*)(nft_ctx *ctx, const char *buf);
using NftCtxBufferError = int (*)(nft_ctx *ctx);
using NftCtxGetErrorBuffer = const char *(*)(nft_ctx *ctx);

struct Libnftables {
  bool loaded = false;
  std::string why;
  NftCtxNew ctx_new = nullptr;
  NftCtxFree ctx_free = nullptr;
  NftRunCmdFromBuffer run = nullptr;
  NftCtxBufferError buffer_error = nullptr;
  NftCtxGetErrorBuffer error_buffer = nullptr;
};

Libnftables &Library() {
  static Libnftables lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void *handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *err = dlerror();
      lib.why = err ? err : "dlopen failed";
      return;
    }
    lib.ctx_new = reinterpret_cast<NftCtxNew>(dlsym(handle, "nft_ctx_new"));
    lib.ctx_free = reinterpret_cast<NftCtxFree>(dlsym(handle, "nft_ctx_free"));
    lib.run = reinterpret_cast<NftRunCmdFromBuffer>(dlsym(handle, "nft_run_cmd_from_buffer"));
    lib.buffer_error = reinterpret_cast<NftCtxBufferError>(dlsym(handle, "nft_ctx_buffer_error"));
    lib.error_buffer = reinterpret_cast<NftCtxGetErrorBuffer>(dlsym(handle, "nft_ctx_get_error_buffer"));
    if (!lib.ctx_new || !lib.ctx_free || !lib.run || !lib.buffer_error || !lib.error_buffer) {
      lib.why = "libnftables.so.1 lacks a function nagaya uses";
      return;
    }
    lib.loaded = true;
  });
  return lib;
}

// One script at a time in this process: the contexts are independent, but nagaya's edits of its
// tables are ordered by their caller and gain nothing from running side by side.
std::mutex run_lock;

class NftRunWorker : public Napi::AsyncWorker {
 public:
  NftRunWorker(Napi::Env env, std::string script)
      : Napi::AsyncWorker(env), script_(std::move(script)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    Libnftables &lib = Library();
    if (!lib.loaded) {
      code_ = "NFT_UNAVAILABLE";
      message_ = lib.why;
      return;
    }
    std::lock_guard<std::mutex> guard(run_lock);
    nft_ctx *ctx = lib.ctx_new(0);
    if (!ctx) {
      code_ = "NFT_UNAVAILABLE";
      message_ = "nft_ctx_new failed";
      return;
    }
    lib.buffer_error(ctx);
    if (lib.run(ctx, script_.c_str()) != 0) {
      const char *err = lib.error_buffer(ctx);
      code_ = "HOST_NETWORK";
      message_ = err && *err ? err : "nft refused the script";
    }
    lib.ctx_free(ctx);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (code_.empty()) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    Napi::Error error = Napi::Error::New(env, message_);
    error.Set("code", Napi::String::New(env, code_));
    deferred_.Reject(error.Value());
  }

 private:
  std::string script_;
  std::string code_;
  std::string message_;
  Napi::Promise::Deferred deferred_;
};

}  // namespace

Napi::Value NftRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "nftRun(script: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto *worker = new NftRunWorker(env, info[0].As<Napi::String>().Utf8Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
