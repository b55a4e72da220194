// A connection to the launcher daemon over its SOCK_SEQPACKET socket (one message per request,
// reply or event, so no framing). The socket is non-blocking and watched by a uv_poll on Node's
// loop; each message is handed to JavaScript as a Buffer, and null when the launcher hangs up.
#include "launcher_connection.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

namespace {

constexpr int kReceiveBuffer = 16 * 1024 * 1024;
constexpr int kSendBuffer = 16 * 1024 * 1024;

Napi::Error SystemError(Napi::Env env, const char *syscall, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

}  // namespace

void LauncherConnection::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(
      env, "LauncherConnection",
      {InstanceMethod("send", &LauncherConnection::Send), InstanceMethod("close", &LauncherConnection::Close),
       InstanceMethod("ref", &LauncherConnection::Ref), InstanceMethod("unref", &LauncherConnection::Unref)});
  exports.Set("LauncherConnection", cls);
}

LauncherConnection::LauncherConnection(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<LauncherConnection>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env,
                               "new LauncherConnection(socketPath: string, onMessage: (msg: Buffer | null) => void)");
  }
  std::string path = info[0].As<Napi::String>();
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) throw Napi::Error::New(env, "socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  socket_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!socket_.valid()) throw SystemError(env, "socket", errno);
  if (::connect(socket_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) {
    throw SystemError(env, "connect", errno);
  }
  int size = kReceiveBuffer;
  if (setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  // Room for bursts (a stop per container at shutdown); past it, Send() queues.
  size = kSendBuffer;
  if (setsockopt(socket_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(socket_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }

  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "cannot get the event loop");
  }
  poll_ = new uv_poll_t;
  if (uv_poll_init(loop, poll_, socket_.get()) != 0) {
    delete poll_;
    poll_ = nullptr;
    throw Napi::Error::New(env, "uv_poll_init failed");
  }
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnEvents);
  on_message_ = Napi::Persistent(info[1].As<Napi::Function>());
  self_ = Napi::Persistent(info.This().As<Napi::Object>());
}

LauncherConnection::~LauncherConnection() {
  // Only reached after Stop() (self_ pins the object until then) or at environment teardown.
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
    poll_ = nullptr;
  }
}

void LauncherConnection::OnEvents(uv_poll_t *handle, int status, int events) {
  auto *self = static_cast<LauncherConnection *>(handle->data);
  if (self == nullptr || self->closed_) return;
  (void)status;
  if (events & UV_WRITABLE) {
    if (self->FlushQueued() != 0) {
      // A queued message the socket refuses for good (too large, no kernel memory): the socket
      // stays writable, so waiting would spin. Fail the connection, and with it every request
      // waiting for an answer, as when the launcher hangs up.
      Napi::HandleScope scope(self->env_);
      Napi::Object keep_alive = self->Value();  // Stop() drops the reference that pins us
      (void)keep_alive;
      self->Stop();
      self->Deliver(self->env_.Null());
      return;
    }
    if (self->queued_.empty()) self->WatchFor(false);
  }
  if (events & (UV_READABLE | UV_DISCONNECT) || status < 0) self->ReadMessages();
}

void LauncherConnection::WatchFor(bool writable) {
  if (poll_ == nullptr) return;
  uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT | (writable ? UV_WRITABLE : 0), OnEvents);
}

int LauncherConnection::FlushQueued() {
  while (!queued_.empty()) {
    const std::vector<char> &message = queued_.front();
    ssize_t n = ::send(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) return errno;
    queued_.pop_front();
  }
  return 0;
}

void LauncherConnection::ReadMessages() {
  Napi::HandleScope scope(env_);
  // A local handle keeps this object alive even if the callback closes and drops it.
  Napi::Object keep_alive = Value();
  (void)keep_alive;
  char probe;
  for (;;) {
    if (closed_) return;
    // MSG_PEEK|MSG_TRUNC reports the whole message's length so it can be read in one piece.
    ssize_t size = ::recv(socket_.get(), &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (size < 0 && errno == EINTR) continue;
    if (size < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (size <= 0) {
      Stop();
      Deliver(env_.Null());
      return;
    }
    Napi::Buffer<char> buf = Napi::Buffer<char>::New(env_, static_cast<size_t>(size));
    ssize_t n = ::recv(socket_.get(), buf.Data(), buf.Length(), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      Stop();
      Deliver(env_.Null());
      return;
    }
    Deliver(n == size ? buf : Napi::Buffer<char>::Copy(env_, buf.Data(), static_cast<size_t>(n)));
  }
}

void LauncherConnection::Deliver(Napi::Value message) {
  if (on_message_.IsEmpty()) return;
  try {
    on_message_.MakeCallback(env_.Global(), {message});
  } catch (const Napi::Error &e) {
    // Called from the event loop with no JavaScript caller: report like any uncaught exception.
    napi_fatal_exception(env_, e.Value());
  }
}

void LauncherConnection::Stop() {
  if (closed_) return;
  closed_ = true;
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
    poll_ = nullptr;
  }
  socket_.reset();
  queued_.clear();  // the requests they carried fail with the connection
  self_.Reset();
}

Napi::Value LauncherConnection::Send(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "send(message: Buffer)");
  if (closed_) throw Napi::Error::New(env, "connection to the launcher is closed");
  Napi::Buffer<char> buf = info[0].As<Napi::Buffer<char>>();
  if (queued_.empty()) {
    ssize_t n;
    do n = ::send(socket_.get(), buf.Data(), buf.Length(), MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0) return env.Undefined();
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw SystemError(env, "send", errno);
  }
  // The launcher is behind (its socket is full): keep the message, in order, for when it can take it.
  queued_.emplace_back(buf.Data(), buf.Data() + buf.Length());
  WatchFor(true);
  return env.Undefined();
}

Napi::Value LauncherConnection::Close(const Napi::CallbackInfo &info) {
  Stop();
  on_message_.Reset();
  return info.Env().Undefined();
}

Napi::Value LauncherConnection::Ref(const Napi::CallbackInfo &info) {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t *>(poll_));
  return info.Env().Undefined();
}

Napi::Value LauncherConnection::Unref(const Napi::CallbackInfo &info) {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t *>(poll_));
  return info.Env().Undefined();
}
