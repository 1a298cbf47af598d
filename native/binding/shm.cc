// Node-API layer of the shared-memory frame ring: opens (or creates) a named
// POSIX shared-memory object, maps it read-only with MAP_SHARED and hands
// the mapping to JavaScript as an external ArrayBuffer, so that a frame in a
// slot is preprocessed where the firmware wrote it (no copy).
//
// Lifetime. The mapping is owned by a shared Mapping that both the ShmMapping
// object and the ArrayBuffer's finalizer hold. close() detaches the
// ArrayBuffer first (every view of it then has length 0, so JavaScript can no
// longer reach the pages) and unmaps at once; without close() the pages are
// unmapped when both holders are gone. Native readers that took a raw pointer
// (a preprocessing worker) must have finished before close(): the server only
// closes a ring once no slot of it is held (src/transport/shm-ring.ts).
//
// TypeScript validates the name and sizes (src/transport/shm-ring.ts); this
// file checks argument types only and reports system failures with a code
// and the errno name, which TypeScript turns into protocol errors.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binding/common.h"

namespace sonoedge_binding {
namespace {

struct Mapping {
  void* addr = nullptr;
  size_t length = 0;
  void Unmap() {
    if (addr != nullptr) munmap(addr, length);
    addr = nullptr;
  }
  ~Mapping() { Unmap(); }
};

const char* ErrnoName(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";
    case ELOOP: return "ELOOP";
    case EPERM: return "EPERM";
    case EFBIG: return "EFBIG";
    default: return "EIO";
  }
}

// Throws an Error with `code` ERR_SONOEDGE_SHM_<what>, `errno` set to the
// errno name (or "" for a check of ours) and the facts in `size`/`mode`.
[[noreturn]] void Fail(const Napi::Env& env, const char* what, int err, const std::string& message,
                       double size = -1, double mode = -1) {
  Napi::Object e = Napi::Error::New(env, message).Value();
  e.Set("code", Napi::String::New(env, std::string("ERR_SONOEDGE_SHM_") + what));
  e.Set("errno", Napi::String::New(env, err ? ErrnoName(err) : ""));
  if (size >= 0) e.Set("size", Napi::Number::New(env, size));
  if (mode >= 0) e.Set("mode", Napi::Number::New(env, mode));
  throw Napi::Error(env, e);
}

class ShmMapping : public Napi::ObjectWrap<ShmMapping> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ShmMapping",
                       {InstanceAccessor<&ShmMapping::Buffer>("buffer"),
                        InstanceAccessor<&ShmMapping::Size>("fileSize"),
                        InstanceAccessor<&ShmMapping::Uid>("uid"),
                        InstanceMethod<&ShmMapping::Close>("close")});
  }

  // new ShmMapping(name, length, create, header, mode)
  //   open:   shm_open(name, O_RDONLY); the object must be a regular file of
  //           at least `length` bytes; maps the first `length` bytes.
  //   create: shm_open(name, O_RDWR|O_CREAT|O_EXCL, mode), ftruncate(length),
  //           writes `header` at offset 0, then maps read-only like open.
  explicit ShmMapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ShmMapping>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean() || !info[4].IsNumber()) {
      ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE",
                    "Expected (name: string, length: number, create: boolean, header: Uint8Array | null, mode: number)");
    }
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const double length = info[1].As<Napi::Number>().DoubleValue();
    const bool create = info[2].As<Napi::Boolean>().Value();
    const mode_t mode = static_cast<mode_t>(info[4].As<Napi::Number>().Uint32Value());
    Bytes header;
    if (create && !GetBytes(env, info[3], "header", &header)) return;
    const size_t len = static_cast<size_t>(length);

    int fd = create ? shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode)
                    : shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      int e = errno;
      Fail(env, "OPEN", e, std::string(create ? "shm_open(O_CREAT|O_EXCL) " : "shm_open ") + name + ": " + std::strerror(e));
    }
    // From here on every failure closes fd (and unlinks what we created).
    auto fail = [&](const char* what, int e, const std::string& msg, double size = -1, double m = -1) {
      close(fd);
      if (create) shm_unlink(name.c_str());
      Fail(env, what, e, msg, size, m);
    };
    if (create) {
      // fchmod: shm_open's mode is filtered by the umask; the caller asked for exactly `mode`.
      if (fchmod(fd, mode) != 0 || ftruncate(fd, static_cast<off_t>(len)) != 0) {
        int e = errno;
        fail("CREATE", e, std::string("sizing ") + name + ": " + std::strerror(e));
      }
      size_t done = 0;
      while (done < header.length) {
        ssize_t w = pwrite(fd, header.data + done, header.length - done, static_cast<off_t>(done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          int e = errno;
          fail("CREATE", e, std::string("writing the header of ") + name + ": " + std::strerror(e));
        }
        done += static_cast<size_t>(w);
      }
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int e = errno;
      fail("OPEN", e, std::string("fstat ") + name + ": " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) fail("NOT_REGULAR", 0, name + " is not a regular file", -1, st.st_mode);
    // Mapping past the end of the file would fault (SIGBUS) on first touch: refuse it here.
    if (static_cast<double>(st.st_size) < length) {
      fail("SIZE", 0, name + " is smaller than the ring", static_cast<double>(st.st_size));
    }
    void* addr = len == 0 ? MAP_FAILED : mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
      int e = len == 0 ? EINVAL : errno;
      fail("MAP", e, std::string("mmap ") + name + ": " + std::strerror(e));
    }
    close(fd);  // the mapping keeps the object alive; the descriptor is not needed
    map_ = std::make_shared<Mapping>();
    map_->addr = addr;
    map_->length = len;
    fileSize_ = static_cast<double>(st.st_size);
    uid_ = static_cast<double>(st.st_uid);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, addr, len, [](Napi::Env, void*, std::shared_ptr<Mapping>* hint) { delete hint; },
        new std::shared_ptr<Mapping>(map_));
    // Weak: the ring in TypeScript holds the buffer; this object only needs it to detach it.
    buffer_ = Napi::Weak(ab);
  }

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    if (map_->addr == nullptr || buffer_.IsEmpty()) return info.Env().Undefined();
    Napi::Value v = buffer_.Value();
    return v.IsEmpty() ? info.Env().Undefined() : v;
  }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fileSize_); }
  Napi::Value Uid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), uid_); }

  // Detaches the ArrayBuffer (its views read as empty from now on), then
  // unmaps. Idempotent.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (map_->addr != nullptr) {
      if (!buffer_.IsEmpty()) {
        Napi::Value v = buffer_.Value();
        if (!v.IsEmpty() && v.IsArrayBuffer()) {
          Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
          if (!ab.IsDetached()) ab.Detach();
        }
      }
      map_->Unmap();
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<Mapping> map_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  double fileSize_ = 0;
  double uid_ = 0;
};

Napi::Value Unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE", "Expected (name: string)");
  }
  // true when removed, false when it was already gone.
  if (shm_unlink(info[0].As<Napi::String>().Utf8Value().c_str()) == 0) return Napi::Boolean::New(env, true);
  int e = errno;
  if (e == ENOENT) return Napi::Boolean::New(env, false);
  Fail(env, "UNLINK", e, std::string("shm_unlink: ") + std::strerror(e));
}

}  // namespace

Napi::Object InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("ShmMapping", ShmMapping::Define(env));
  exports.Set("shmUnlink", Napi::Function::New(env, Unlink, "shmUnlink"));
  return exports;
}

}  // namespace sonoedge_binding
