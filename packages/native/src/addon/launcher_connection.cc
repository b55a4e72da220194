// A connection to the launcher daemon over its SOCK_SEQPACKET socket (one message per request,
// reply or event, so no framing). The reader thread polls the socket and an eventfd; each
// message is handed to JavaScript as a Buffer, and null when the launcher closes the connection.
#include "launcher_connection.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

namespace {

constexpr int kReceiveBuffer = 16 * 1024 * 1024;

Napi::Error SystemError(Napi::Env env, const char* syscall, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void DeliverMessage(Napi::Env env, Napi::Function callback, std::vector<char>* data) {
  if (env != nullptr && callback != nullptr) {
    if (data == nullptr) {
      callback.Call({env.Null()});
    } else {
      callback.Call({Napi::Buffer<char>::Copy(env, data->data(), data->size())});
    }
  }
  delete data;
}

}  // namespace

void LauncherConnection::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "LauncherConnection",
                                   {InstanceMethod("send", &LauncherConnection::Send),
                                    InstanceMethod("close", &LauncherConnection::Close),
                                    InstanceMethod("ref", &LauncherConnection::Ref),
                                    InstanceMethod("unref", &LauncherConnection::Unref)});
  exports.Set("LauncherConnection", cls);
}

LauncherConnection::LauncherConnection(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LauncherConnection>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "new LauncherConnection(socketPath: string, onMessage: (msg: Buffer | null) => void)");
  }
  std::string path = info[0].As<Napi::String>();
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) throw Napi::Error::New(env, "socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  socket_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!socket_.valid()) throw SystemError(env, "socket", errno);
  if (::connect(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    throw SystemError(env, "connect", errno);
  }
  int size = kReceiveBuffer;
  if (setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) throw SystemError(env, "eventfd", errno);

  on_message_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "nagaya-launcher-reader", 0, 1);
  reader_ = std::thread([this] { ReadLoop(); });
}

LauncherConnection::~LauncherConnection() { Stop(); }

void LauncherConnection::ReadLoop() {
  std::vector<char> scratch(1);
  for (;;) {
    pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int ready = ::poll(fds, 2, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || stopping_.load() || fds[1].revents != 0) break;
    // MSG_PEEK|MSG_TRUNC reports the whole message's length so it can be read in one piece.
    ssize_t size = ::recv(socket_.get(), scratch.data(), 1, MSG_PEEK | MSG_TRUNC);
    if (size < 0 && errno == EINTR) continue;
    if (size <= 0) break;
    auto* data = new std::vector<char>(static_cast<size_t>(size));
    ssize_t n = ::recv(socket_.get(), data->data(), data->size(), 0);
    if (n <= 0) {
      delete data;
      break;
    }
    data->resize(static_cast<size_t>(n));
    if (on_message_.BlockingCall(data, DeliverMessage) != napi_ok) {
      delete data;
      return;
    }
  }
  if (!stopping_.load()) on_message_.BlockingCall(static_cast<std::vector<char>*>(nullptr), DeliverMessage);
}

void LauncherConnection::Stop() {
  if (closed_) return;
  closed_ = true;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
  (void)ignored;
  if (reader_.joinable()) reader_.join();
  on_message_.Release();
  socket_.reset();
  wake_.reset();
}

Napi::Value LauncherConnection::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "send(message: Buffer)");
  if (closed_) throw Napi::Error::New(env, "connection to the launcher is closed");
  Napi::Buffer<char> buf = info[0].As<Napi::Buffer<char>>();
  ssize_t n;
  do n = ::send(socket_.get(), buf.Data(), buf.Length(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw SystemError(env, "send", errno);
  return env.Undefined();
}

Napi::Value LauncherConnection::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

Napi::Value LauncherConnection::Ref(const Napi::CallbackInfo& info) {
  if (!closed_) on_message_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value LauncherConnection::Unref(const Napi::CallbackInfo& info) {
  if (!closed_) on_message_.Unref(info.Env());
  return info.Env().Undefined();
}
