// A connection to the launcher daemon: requests go out synchronously; replies and exit events
// are read on Node's own event loop (a uv_poll on the socket), so no thread is needed at all,
// neither per container nor per connection, and a message reaches JavaScript in one wakeup.
#pragma once
#include <napi.h>
#include <uv.h>

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
  static void OnReadable(uv_poll_t* handle, int status, int events);
  void ReadMessages();
  void Deliver(Napi::Value message);
  void Stop();

  Napi::Env env_;
  UniqueFd socket_;
  uv_poll_t* poll_ = nullptr;  // freed in uv_close's callback
  Napi::FunctionReference on_message_;
  Napi::ObjectReference self_;  // keeps this object alive while the socket is watched
  bool closed_ = false;
};
