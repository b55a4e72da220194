// A connection to the launcher daemon: requests go out at once, or queue in order while the
// launcher's socket is full and drain when it can take more; replies and exit events
// are read on Node's own event loop (a uv_poll on the socket), so no thread is needed at all,
// neither per container nor per connection, and a message reaches JavaScript in one wakeup.
#pragma once
#include <napi.h>
#include <uv.h>

#include <deque>
#include <vector>

#include "unique_fd.h"

class LauncherConnection : public Napi::ObjectWrap<LauncherConnection> {
 public:
  // Registers the class on exports.
  static void Init(Napi::Env env, Napi::Object exports);
  // new LauncherConnection(socketPath, onMessage(buffer | null)): connects and starts reading.
  explicit LauncherConnection(const Napi::CallbackInfo &info);
  ~LauncherConnection() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  Napi::Value Ref(const Napi::CallbackInfo &info);
  Napi::Value Unref(const Napi::CallbackInfo &info);
  static void OnEvents(uv_poll_t *handle, int status, int events);
  void ReadMessages();
  // Sends queued messages until the socket is full again; returns errno of a real failure, or 0.
  int FlushQueued();
  void WatchFor(bool writable);
  void Deliver(Napi::Value message);
  void Stop();

  Napi::Env env_;
  UniqueFd socket_;
  uv_poll_t *poll_ = nullptr;  // freed in uv_close's callback
  Napi::FunctionReference on_message_;
  Napi::ObjectReference self_;  // keeps this object alive while the socket is watched
  bool closed_ = false;
  // Messages the full socket did not take yet, oldest first (never reordered: a stop must not
  // overtake the launch it stops).
  std::deque<std::vector<char>> queued_;
};
