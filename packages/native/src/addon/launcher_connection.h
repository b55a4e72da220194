// A connection to the launcher daemon: requests go out synchronously, replies and exit events
// come back on one reader thread per connection (not per container) through a
// ThreadSafeFunction.
#pragma once
#include <napi.h>

#include <atomic>
#include <thread>

#include "unique_fd.h"

class LauncherConnection : public Napi::ObjectWrap<LauncherConnection> {
 public:
  // Registers the class on exports.
  static void Init(Napi::Env env, Napi::Object exports);
  // new LauncherConnection(socketPath, onMessage(buffer | null)): connects and starts reading.
  explicit LauncherConnection(const Napi::CallbackInfo& info);
  ~LauncherConnection() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  void ReadLoop();
  void Stop();

  UniqueFd socket_;
  UniqueFd wake_;  // eventfd that tells the reader thread to stop
  Napi::ThreadSafeFunction on_message_;
  std::thread reader_;
  std::atomic<bool> stopping_{false};
  bool closed_ = false;
};
