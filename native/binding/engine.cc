// Node-API layer of the inference engine (native/engine/): loadEngine() creates
// a session off the event loop (an AsyncWorker: session creation and warm-up
// can take seconds, minutes for a TensorRT engine build); NativeSession.bind()
// wraps caller typed arrays once; NativeBinding.run() queues a run on the
// session's own worker thread and resolves through a thread-safe function;
// NativeBinding.runInline() runs on the calling (JavaScript) thread when
// nothing is queued (src/engine/index.ts decides when: short runs only).
//
// Why a dedicated thread per session rather than AsyncWorkers on the libuv
// pool: runs of one session must not overlap (a binding's buffers are shared
// by every run of it), the pool has 4 threads shared with file I/O, crypto and
// preprocessing (a long inference would starve them), and one FIFO queue per
// session makes queue wait a meaningful number. ONNX Runtime's own intra-op
// pool does the parallel work inside a run.
#include <napi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "binding/common.h"
#include "engine/engine.h"

namespace sonoedge_binding {
namespace {

namespace eng = sonoedge::engine;

struct ErrorClass {
  const char* ctor;
  const char* code;
};

ErrorClass ClassOf(eng::ErrorKind kind) {
  switch (kind) {
    case eng::ErrorKind::kLibrary: return {"Error", "ERR_SONOEDGE_ENGINE_LIBRARY"};
    case eng::ErrorKind::kModel: return {"Error", "ERR_SONOEDGE_ENGINE_MODEL"};
    case eng::ErrorKind::kOption: return {"RangeError", "ERR_SONOEDGE_ENGINE_OPTION"};
    case eng::ErrorKind::kProvider: return {"Error", "ERR_SONOEDGE_ENGINE_PROVIDER"};
    case eng::ErrorKind::kProviderOption: return {"RangeError", "ERR_SONOEDGE_ENGINE_PROVIDER_OPTION"};
    case eng::ErrorKind::kWarmup: return {"Error", "ERR_SONOEDGE_ENGINE_WARMUP"};
    case eng::ErrorKind::kBind: return {"RangeError", "ERR_SONOEDGE_ENGINE_BIND"};
    case eng::ErrorKind::kClosed: return {"Error", "ERR_SONOEDGE_ENGINE_CLOSED"};
    default: return {"Error", "ERR_SONOEDGE_ENGINE_RUN"};
  }
}

Napi::Value MakeError(Napi::Env env, const eng::Error& e) {
  ErrorClass c = ClassOf(e.kind);
  Napi::Object err = env.Global().Get(c.ctor).As<Napi::Function>().New({Napi::String::New(env, e.message)});
  err.Set("code", Napi::String::New(env, c.code));
  return err;
}

std::string Str(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::String>().Utf8Value(); }
int32_t Int(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Int32Value(); }

std::vector<std::pair<std::string, std::string>> Pairs(const Napi::Value& v) {
  std::vector<std::pair<std::string, std::string>> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Array kv = a.Get(i).As<Napi::Array>();
    out.emplace_back(kv.Get(0u).As<Napi::String>().Utf8Value(), kv.Get(1u).As<Napi::String>().Utf8Value());
  }
  return out;
}

// What run() and runInline() resolve with: a run's queue wait and run time, in
// milliseconds, and whether it ran on the calling thread.
Napi::Object Timings(Napi::Env env, int64_t queueNs, int64_t runNs, bool inlined) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("queueMs", Napi::Number::New(env, static_cast<double>(queueNs) / 1e6));
  r.Set("runMs", Napi::Number::New(env, static_cast<double>(runNs) / 1e6));
  r.Set("inline", Napi::Boolean::New(env, inlined));
  return r;
}

// Copies the resolved options (src/engine/options.ts ResolvedEngineOptions)
// into the baton; TypeScript validated every value.
eng::SessionOptions ReadOptions(const Napi::Object& o) {
  eng::SessionOptions s;
  s.libraryPath = Str(o, "libraryPath");
  s.modelPath = Str(o, "modelPath");
  s.intraOpThreads = Int(o, "intraOpThreads");
  s.interOpThreads = Int(o, "interOpThreads");
  s.graphOptimizationLevel = Int(o, "graphOptimizationLevel");
  s.optimizedModelPath = Str(o, "optimizedModelPath");
  Napi::Array dims = o.Get("freeDimensions").As<Napi::Array>();
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    Napi::Array kv = dims.Get(i).As<Napi::Array>();
    s.freeDimensions.emplace_back(kv.Get(0u).As<Napi::String>().Utf8Value(),
                                  kv.Get(1u).As<Napi::Number>().Int64Value());
  }
  s.deterministic = o.Get("deterministic").As<Napi::Boolean>().Value();
  s.logSeverity = Int(o, "logSeverity");
  s.configEntries = Pairs(o.Get("configEntries"));
  Napi::Array providers = o.Get("providers").As<Napi::Array>();
  for (uint32_t i = 0; i < providers.Length(); ++i) {
    Napi::Object p = providers.Get(i).As<Napi::Object>();
    eng::ProviderSpec spec;
    spec.kind = static_cast<eng::ProviderKind>(Int(p, "kind"));
    spec.options = Pairs(p.Get("options"));
    spec.cpuArena = p.Get("cpuArena").As<Napi::Boolean>().Value();
    s.providers.push_back(std::move(spec));
  }
  s.warmupRuns = Int(o, "warmupRuns");
  return s;
}

// A queued run: the engine's Job plus the promise to settle and a reference
// that keeps the binding (and through it the session and the arrays) alive.
struct RunJob {
  eng::Job job;
  napi_deferred deferred = nullptr;
  napi_ref keep = nullptr;
};

class NativeSession;
void CallJs(Napi::Env env, Napi::Function, NativeSession* session, RunJob* job);
using Tsfn = Napi::TypedThreadSafeFunction<NativeSession, RunJob, CallJs>;

class NativeSession : public Napi::ObjectWrap<NativeSession> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    Napi::Function fn = DefineClass(
        env, "NativeSession",
        {InstanceMethod<&NativeSession::Bind>("bind"), InstanceMethod<&NativeSession::Close>("close"),
         InstanceAccessor<&NativeSession::Inputs>("inputs"), InstanceAccessor<&NativeSession::Outputs>("outputs"),
         InstanceAccessor<&NativeSession::Provider>("provider"),
         InstanceAccessor<&NativeSession::Report>("providerReport"),
         InstanceAccessor<&NativeSession::Version>("libraryVersion"),
         InstanceAccessor<&NativeSession::WarmupMs>("warmupMs"),
         InstanceAccessor<&NativeSession::SessionConfig>("sessionConfig")});
    constructor = new Napi::FunctionReference(Napi::Persistent(fn));
    return fn;
  }

  explicit NativeSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeSession>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsExternal()) {
      ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE", "NativeSession is created by loadEngine()");
    }
    session_.reset(info[0].As<Napi::External<eng::Session>>().Data());
    tsfn_ = Tsfn::New(env, "sonoedge:engine", 0, 1, this);
    tsfn_.Unref(env);  // only pending runs keep the process alive
    // A session still open when the environment is torn down (process exit
    // without close()) is stopped by this hook. Hooks run in reverse order of
    // registration, so it runs before the thread-safe function's own hook
    // closes and deletes it; the wrapper's finalizer runs later still, after
    // every thread-safe function is gone, and must not touch this one then
    // (it did: napi_release_threadsafe_function on freed memory, SIGABRT).
    env_ = env;
    napi_add_env_cleanup_hook(env, &NativeSession::AtTeardown, this);
    hooked_ = true;
    session_->Start([this](eng::Job* job) {
      // Worker thread: hand the finished job to the JS thread. RunJob starts
      // with its Job, so the cast is exact. Never blocks.
      tsfn_.NonBlockingCall(reinterpret_cast<RunJob*>(job));
    });
  }

  ~NativeSession() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, &NativeSession::AtTeardown, this);
    Stop();
  }

  // Stops the worker (a run in flight finishes first) and releases the
  // thread-safe function; nothing to do once close() has completed.
  void Stop() {
    if (!session_) return;
    session_.reset();
    tsfn_.Release();
  }

  static void AtTeardown(void* arg) {
    auto* self = static_cast<NativeSession*>(arg);
    self->hooked_ = false;
    self->Stop();
  }

  eng::Session* session() const { return session_.get(); }
  // True when a run may go on the calling thread now: open, and no run queued
  // or running on the worker (runs of one session never overlap, and keep
  // their call order).
  bool Idle() const { return session_ && !closing_ && pending_ == 0; }

  // Queues `job`; on false the caller rejects it as closed.
  bool Submit(Napi::Env env, RunJob* job) {
    if (!session_ || closing_) return false;
    if (pending_++ == 0) tsfn_.Ref(env);
    if (!session_->Submit(&job->job)) {
      if (--pending_ == 0) tsfn_.Unref(env);
      return false;
    }
    return true;
  }

  void Finished(Napi::Env env, RunJob* job) {
    if (job->job.binding == nullptr) {  // the close sentinel
      session_->Join();
      session_.reset();
      tsfn_.Unref(env);
      tsfn_.Release();
      napi_resolve_deferred(env, job->deferred, env.Undefined());
      delete job;
      return;
    }
    if (--pending_ == 0 && !closing_) tsfn_.Unref(env);
    napi_value binding;
    napi_get_reference_value(env, job->keep, &binding);
    napi_delete_reference(env, job->keep);
    if (job->job.error) {
      napi_reject_deferred(env, job->deferred, MakeError(env, job->job.error));
    } else {
      const eng::Timings& t = job->job.timings;
      napi_resolve_deferred(env, job->deferred, Timings(env, t.startNs - t.submitNs, t.endNs - t.startNs, false));
    }
    delete job;
  }

 private:
  static Napi::Array Infos(Napi::Env env, const std::vector<eng::TensorInfo>& infos) {
    Napi::Array arr = Napi::Array::New(env, infos.size());
    for (uint32_t i = 0; i < infos.size(); ++i) {
      const auto& t = infos[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      o.Set("elementType", t.elementType);
      Napi::Array dims = Napi::Array::New(env, t.dims.size());
      Napi::Array symbols = Napi::Array::New(env, t.dims.size());
      for (uint32_t k = 0; k < t.dims.size(); ++k) {
        dims.Set(k, Napi::Number::New(env, static_cast<double>(t.dims[k])));
        symbols.Set(k, Napi::String::New(env, k < t.symbols.size() ? t.symbols[k] : ""));
      }
      o.Set("dims", dims);
      o.Set("symbols", symbols);
      arr.Set(i, o);
    }
    return arr;
  }

  void CheckOpen(Napi::Env env) {
    if (!session_ || closing_) ThrowWithCode(env, "Error", "ERR_SONOEDGE_ENGINE_CLOSED", "The engine is closed");
  }
  Napi::Value Inputs(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    return Infos(info.Env(), session_->inputs());
  }
  Napi::Value Outputs(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    return Infos(info.Env(), session_->outputs());
  }
  Napi::Value Provider(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    return Napi::Number::New(info.Env(), static_cast<int32_t>(session_->provider()));
  }
  Napi::Value Report(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    const auto& rep = session_->providerReport();
    Napi::Array arr = Napi::Array::New(env, rep.size());
    for (uint32_t i = 0; i < rep.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("kind", static_cast<int32_t>(rep[i].kind));
      o.Set("used", rep[i].used);
      o.Set("reason", rep[i].reason);
      arr.Set(i, o);
    }
    return arr;
  }
  Napi::Value Version(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    return Napi::String::New(info.Env(), session_->libraryVersion());
  }
  Napi::Value WarmupMs(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    return Napi::Number::New(info.Env(), session_->warmupMs());
  }
  Napi::Value SessionConfig(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    const auto& config = session_->sessionConfig();
    Napi::Array arr = Napi::Array::New(env, config.size());
    for (uint32_t i = 0; i < config.size(); ++i) {
      Napi::Array kv = Napi::Array::New(env, 2);
      kv.Set(0u, config[i].first);
      kv.Set(1u, config[i].second);
      arr.Set(i, kv);
    }
    return arr;
  }

  Napi::Value Bind(const Napi::CallbackInfo& info);

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_ || closing_) {
      // Only here: an unsettled Deferred is never freed (LeakSanitizer found one per close).
      Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
      d.Resolve(env.Undefined());
      return d.Promise();
    }
    closing_ = true;
    // The close sentinel runs after every run already queued; its completion
    // joins the worker, releases the session and settles this promise.
    auto* sentinel = new RunJob();
    napi_value promise;
    napi_create_promise(env, &sentinel->deferred, &promise);
    if (pending_++ == 0) tsfn_.Ref(env);  // keep alive until the sentinel returns
    session_->Close(&sentinel->job);
    return Napi::Value(env, promise);
  }

  std::unique_ptr<eng::Session> session_;
  Tsfn tsfn_;
  napi_env env_ = nullptr;
  bool hooked_ = false;
  int64_t pending_ = 0;
  bool closing_ = false;
};

Napi::FunctionReference* NativeSession::constructor = nullptr;

void CallJs(Napi::Env env, Napi::Function, NativeSession* session, RunJob* job) {
  if (env == nullptr || session == nullptr) {  // tearing down
    delete job;
    return;
  }
  Napi::HandleScope scope(env);
  session->Finished(env, job);
}

class NativeBinding : public Napi::ObjectWrap<NativeBinding> {
 public:
  static Napi::FunctionReference* constructor;
  static Napi::Function Define(Napi::Env env) {
    Napi::Function fn = DefineClass(
        env, "NativeBinding",
        {InstanceMethod<&NativeBinding::Run>("run"), InstanceMethod<&NativeBinding::RunInline>("runInline")});
    constructor = new Napi::FunctionReference(Napi::Persistent(fn));
    return fn;
  }

  explicit NativeBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeBinding>(info) {
    if (info.Length() < 2 || !info[0].IsExternal() || !info[1].IsObject()) {
      ThrowWithCode(info.Env(), "TypeError", "ERR_SONOEDGE_ARG_TYPE", "NativeBinding is created by NativeSession.bind()");
    }
    binding_.reset(info[0].As<Napi::External<eng::Binding>>().Data());
    owner_ = Napi::Persistent(info[1].As<Napi::Object>());
    session_ = NativeSession::Unwrap(info[1].As<Napi::Object>());
  }

  void Keep(const Napi::Array& arrays) { arrays_ = Napi::Persistent(arrays.As<Napi::Object>()); }

 private:
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto* job = new RunJob();
    job->job.binding = binding_.get();
    napi_value promise;
    napi_create_promise(env, &job->deferred, &promise);
    napi_create_reference(env, info.This(), 1, &job->keep);
    if (!session_->Submit(env, job)) {
      napi_delete_reference(env, job->keep);
      napi_reject_deferred(env, job->deferred,
                           MakeError(env, {eng::ErrorKind::kClosed, "The engine is closed"}));
      delete job;
    }
    return Napi::Value(env, promise);
  }

  // Runs on this (the JavaScript) thread and returns the timings, or
  // undefined without running when the session is busy or closed (the caller
  // then queues the run). A failed run throws the engine's coded error.
  Napi::Value RunInline(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_->Idle()) return env.Undefined();
    const int64_t t0 = eng::NowNs();
    eng::Error error = session_->session()->RunNow(*binding_);
    const int64_t t1 = eng::NowNs();
    if (error) throw Napi::Error(env, MakeError(env, error));
    return Timings(env, 0, t1 - t0, true);
  }

  std::unique_ptr<eng::Binding> binding_;
  Napi::ObjectReference owner_;   // the NativeSession
  Napi::ObjectReference arrays_;  // every typed array the OrtValues point into
  NativeSession* session_ = nullptr;
};

Napi::FunctionReference* NativeBinding::constructor = nullptr;

// bind([{index, elementType, dims, data}], [...]) -> NativeBinding
Napi::Value NativeSession::Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray()) {
    ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE", "Expected two arrays of buffer specs");
  }
  Napi::Array keep = Napi::Array::New(env);
  std::vector<eng::Buffer> bufs[2];
  for (int pass = 0; pass < 2; ++pass) {
    Napi::Array specs = info[pass].As<Napi::Array>();
    for (uint32_t i = 0; i < specs.Length(); ++i) {
      Napi::Object s = specs.Get(i).As<Napi::Object>();
      eng::Buffer b;
      b.index = Int(s, "index");
      b.elementType = Int(s, "elementType");
      Napi::Array dims = s.Get("dims").As<Napi::Array>();
      for (uint32_t k = 0; k < dims.Length(); ++k) b.dims.push_back(dims.Get(k).As<Napi::Number>().Int64Value());
      Bytes bytes;
      if (!GetBytes(env, s.Get("data"), "data", &bytes)) return env.Undefined();
      b.data = bytes.data;
      b.byteLength = bytes.length;
      keep.Set(keep.Length(), s.Get("data"));
      bufs[pass].push_back(std::move(b));
    }
  }
  eng::Error error;
  std::unique_ptr<eng::Binding> binding = session_->Bind(bufs[0], bufs[1], &error);
  if (!binding) throw Napi::Error(env, MakeError(env, error));
  Napi::Object obj = NativeBinding::constructor->New(
      {Napi::External<eng::Binding>::New(env, binding.release()), info.This()});
  NativeBinding::Unwrap(obj)->Keep(keep);
  return obj;
}

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, eng::SessionOptions options)
      : Napi::AsyncWorker(env, "sonoedge:engine-load"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    session_ = eng::Session::Create(options_, &error_);
    if (!session_) SetError(error_.message);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object obj =
        NativeSession::constructor->New({Napi::External<eng::Session>::New(env, session_.release())});
    deferred_.Resolve(obj);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(MakeError(Env(), error_)); }

 private:
  Napi::Promise::Deferred deferred_;
  eng::SessionOptions options_;
  std::unique_ptr<eng::Session> session_;
  eng::Error error_;
};

Napi::Value LoadEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE", "Expected an options object");
  }
  auto* worker = new LoadWorker(env, ReadOptions(info[0].As<Napi::Object>()));
  worker->Queue();
  return worker->Promise();
}

}  // namespace

Napi::Object InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSession", NativeSession::Define(env));
  exports.Set("NativeBinding", NativeBinding::Define(env));
  exports.Set("loadEngine", Napi::Function::New<LoadEngine>(env, "loadEngine"));
  return exports;
}

}  // namespace sonoedge_binding
