// ONNX Runtime C API engine: library loading, sessions with provider
// fallback, bindings over caller memory, the per-session run thread.
#include "engine/engine.h"

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>

#include <onnxruntime_c_api.h>
#include <onnxruntime_session_options_config_keys.h>
#include <sonoedge_ort_config.h>  // written by scripts/fetch-ort-headers.mjs

static_assert(ORT_API_VERSION <= SONOEDGE_ORT_LIBRARY_API,
              "the ONNX Runtime headers are newer than the libonnxruntime the engine loads "
              "(scripts/fetch-ort-headers.mjs should have refused them): use headers of the "
              "library's version or older, or set ORT_ROOT");

namespace sonoedge {
namespace engine {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

size_t ElementSize(int32_t t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return 1;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return 1;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return 8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return 1;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return 2;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return 8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return 4;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return 8;
    default: return 0;
  }
}

namespace {
// Number of elements of a tensor with these (non-negative) dimensions.
size_t ElementCount(const std::vector<int64_t>& dims) {
  size_t n = 1;
  for (auto d : dims) n *= static_cast<size_t>(d);
  return n;
}
}  // namespace

// An opened libonnxruntime: the API table and the process's OrtEnv.
class Runtime {
 public:
  const OrtApi* api = nullptr;
  OrtEnv* env = nullptr;
  OrtMemoryInfo* cpuMemory = nullptr;
  std::string version;
};

namespace {

// Takes ownership of an OrtStatus: its message, or "" for success.
std::string Take(const OrtApi* api, OrtStatus* status) {
  if (status == nullptr) return std::string();
  std::string message = api->GetErrorMessage(status);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (message.empty()) message = "unknown ONNX Runtime error";
  api->ReleaseStatus(status);
  return message;
}

std::shared_ptr<Runtime> OpenRuntime(const std::string& path, Error* error) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<Runtime>> opened;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = opened.find(path);
  if (it != opened.end()) return it->second;

  // ONNX Runtime 1.29 and later send telemetry on Linux too: a persistent device id and an event cache under
  // ~/.cache/Microsoft/DeveloperTools/.onnxruntime, uploaded when a network answers. A scanner's runtime does not
  // phone home or grow files in a home folder: off unless the environment already says (ORT_DISABLE_TELEMETRY=0
  // leaves it on). The library reads it when it starts, so it is set before the library is loaded.
  setenv("ORT_DISABLE_TELEMETRY", "1", /*overwrite=*/0);
  // Never dlclose'd: ONNX Runtime's threads and statics live as long as the process.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    *error = {ErrorKind::kLibrary, "Could not load libonnxruntime from " + path + ": " + (why ? why : "dlopen failed")};
    return nullptr;
  }
  using GetApiBase = const OrtApiBase* (*)();
  auto getApiBase = reinterpret_cast<GetApiBase>(dlsym(handle, "OrtGetApiBase"));
  if (getApiBase == nullptr) {
    *error = {ErrorKind::kLibrary, path + " is not libonnxruntime: it exports no OrtGetApiBase"};
    return nullptr;
  }
  const OrtApiBase* base = getApiBase();
  auto rt = std::make_shared<Runtime>();
  rt->version = base->GetVersionString();
  rt->api = base->GetApi(ORT_API_VERSION);
  if (rt->api == nullptr) {
    *error = {ErrorKind::kLibrary,
              "libonnxruntime " + rt->version + " at " + path + " does not serve ONNX Runtime C API version " +
                  std::to_string(ORT_API_VERSION) + ", the version sonoedge was built against (headers from " +
                  SONOEDGE_ORT_HEADERS_SOURCE + "): use ONNX Runtime 1." + std::to_string(ORT_API_VERSION) +
                  " or newer, or rebuild sonoedge with that library's headers (ORT_ROOT)"};
    return nullptr;
  }
  std::string msg = Take(rt->api, rt->api->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "sonoedge", &rt->env));
  if (msg.empty()) msg = Take(rt->api, rt->api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &rt->cpuMemory));
  if (!msg.empty()) {
    *error = {ErrorKind::kLibrary, "Could not start ONNX Runtime " + rt->version + ": " + msg};
    return nullptr;
  }
  opened.emplace(path, rt);
  return rt;
}

const char* ProviderName(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kTensorRT: return "tensorrt";
    case ProviderKind::kCUDA: return "cuda";
    default: return "cpu";
  }
}

struct OptionsGuard {
  const OrtApi* api;
  OrtSessionOptions* so = nullptr;
  ~OptionsGuard() {
    if (so) api->ReleaseSessionOptions(so);
  }
};

// Session options without providers. Returns "" or ONNX Runtime's message.
std::string BaseOptions(const OrtApi* api, const SessionOptions& o, OrtSessionOptions* so) {
  std::string m;
  auto step = [&](OrtStatus* s, const std::string& what) {
    if (!m.empty()) {
      if (s) api->ReleaseStatus(s);
      return;
    }
    std::string e = Take(api, s);
    if (!e.empty()) m = what + ": " + e;
  };
  if (o.intraOpThreads > 0) step(api->SetIntraOpNumThreads(so, o.intraOpThreads), "intraOpThreads");
  if (o.interOpThreads > 0) {
    step(api->SetInterOpNumThreads(so, o.interOpThreads), "interOpThreads");
    step(api->SetSessionExecutionMode(so, o.interOpThreads > 1 ? ORT_PARALLEL : ORT_SEQUENTIAL), "interOpThreads");
  }
  step(api->SetSessionGraphOptimizationLevel(so, static_cast<GraphOptimizationLevel>(o.graphOptimizationLevel)),
       "graphOptimizationLevel");
  if (!o.optimizedModelPath.empty()) {
    step(api->SetOptimizedModelFilePath(so, o.optimizedModelPath.c_str()), "optimizedModelPath");
  }
  for (const auto& d : o.freeDimensions) {
    step(api->AddFreeDimensionOverrideByName(so, d.first.c_str(), d.second), "freeDimensions." + d.first);
  }
  if (o.deterministic) {
    step(api->SetDeterministicCompute(so, true), "deterministic");
    // One ordering of floating-point reductions: no inter-op parallelism.
    step(api->SetSessionExecutionMode(so, ORT_SEQUENTIAL), "deterministic");
  }
  step(api->SetSessionLogSeverityLevel(so, o.logSeverity), "logSeverity");
  for (const auto& kv : o.configEntries) {
    step(api->AddSessionConfigEntry(so, kv.first.c_str(), kv.second.c_str()), "config " + kv.first);
  }
  return m;
}

// ONNX Runtime loads a GPU provider's shared library lazily, the first time its
// options are touched: such a failure means the provider is not available here
// (fall back), anything else from Update*ProviderOptions is a rejected option.
bool Unavailable(const std::string& m) {
  for (const char* s : {"Failed to load library", "cannot open shared object", "not enabled in this build",
                        "is not enabled", "not supported in this build"}) {
    if (m.find(s) != std::string::npos) return true;
  }
  return false;
}

// Creates a GPU provider's options, applies the keys and appends it. TensorRT
// and CUDA differ only in their ONNX Runtime entry points; the shape is shared.
template <typename Opts, typename Create, typename Update, typename Append, typename Release>
std::string AppendGpuProvider(const OrtApi* api, OrtSessionOptions* so, const std::vector<const char*>& keys,
                              const std::vector<const char*>& values, bool* optionRejected, Create create,
                              Update update, Append append, Release release) {
  Opts* opts = nullptr;
  std::string m = Take(api, create(&opts));
  if (!m.empty()) return m;
  m = Take(api, update(opts, keys.data(), values.data(), keys.size()));
  if (!m.empty()) {
    *optionRejected = !Unavailable(m);
  } else {
    m = Take(api, append(so, opts));
  }
  release(opts);
  return m;
}

// Appends one provider. Returns "" on success; otherwise why not, and sets
// *optionRejected when the provider exists but refused an option.
std::string AppendProvider(const OrtApi* api, OrtSessionOptions* so, const ProviderSpec& p, bool* optionRejected) {
  std::vector<const char*> keys, values;
  for (const auto& kv : p.options) {
    keys.push_back(kv.first.c_str());
    values.push_back(kv.second.c_str());
  }
  *optionRejected = false;
  switch (p.kind) {
    case ProviderKind::kTensorRT:
      return AppendGpuProvider<OrtTensorRTProviderOptionsV2>(
          api, so, keys, values, optionRejected, api->CreateTensorRTProviderOptions, api->UpdateTensorRTProviderOptions,
          api->SessionOptionsAppendExecutionProvider_TensorRT_V2, api->ReleaseTensorRTProviderOptions);
    case ProviderKind::kCUDA:
      return AppendGpuProvider<OrtCUDAProviderOptionsV2>(
          api, so, keys, values, optionRejected, api->CreateCUDAProviderOptions, api->UpdateCUDAProviderOptions,
          api->SessionOptionsAppendExecutionProvider_CUDA_V2, api->ReleaseCUDAProviderOptions);
    default:
      // The CPU provider is always present; only its arena is configurable.
      return Take(api, p.cpuArena ? api->EnableCpuMemArena(so) : api->DisableCpuMemArena(so));
  }
}

bool ReadInfo(const OrtApi* api, const OrtTypeInfo* type, TensorInfo* out, std::string* m) {
  ONNXType onnxType = ONNX_TYPE_UNKNOWN;
  *m = Take(api, api->GetOnnxTypeFromTypeInfo(type, &onnxType));
  if (!m->empty()) return false;
  if (onnxType != ONNX_TYPE_TENSOR) return true;  // elementType stays 0
  const OrtTensorTypeAndShapeInfo* t = nullptr;
  *m = Take(api, api->CastTypeInfoToTensorInfo(type, &t));
  if (!m->empty()) return false;
  ONNXTensorElementDataType et;
  size_t n = 0;
  *m = Take(api, api->GetTensorElementType(t, &et));
  if (m->empty()) *m = Take(api, api->GetDimensionsCount(t, &n));
  if (!m->empty()) return false;
  out->elementType = static_cast<int32_t>(et);
  out->dims.assign(n, 0);
  std::vector<const char*> symbols(n, nullptr);
  *m = Take(api, api->GetDimensions(t, out->dims.data(), n));
  if (m->empty() && n > 0) *m = Take(api, api->GetSymbolicDimensions(t, symbols.data(), n));
  if (!m->empty()) return false;
  for (size_t i = 0; i < n; ++i) out->symbols.emplace_back(symbols[i] ? symbols[i] : "");
  return true;
}

}  // namespace

Binding::~Binding() {
  if (!runtime_) return;
  for (OrtValue* v : inValues_) runtime_->api->ReleaseValue(v);
  for (OrtValue* v : outValues_) runtime_->api->ReleaseValue(v);
  if (runOptions_) runtime_->api->ReleaseRunOptions(runOptions_);
}

const std::string& Session::libraryVersion() const { return runtime_->version; }

std::unique_ptr<Session> Session::Create(const SessionOptions& o, Error* error) {
  std::shared_ptr<Runtime> rt = OpenRuntime(o.libraryPath, error);
  if (!rt) return nullptr;
  const OrtApi* api = rt->api;
  std::unique_ptr<Session> s(new Session());
  s->runtime_ = rt;

  // Providers in priority order: each one that cannot be appended is recorded
  // with ONNX Runtime's reason and the next is tried. If the session cannot be
  // created with a GPU provider appended, that provider is dropped too and the
  // session is created again without it (a provider library that loads but
  // fails on this model or this machine).
  std::vector<ProviderOutcome> report;
  for (const auto& p : o.providers) report.push_back({p.kind, false, ""});
  size_t first = 0;
  while (true) {
    OptionsGuard g{api};
    std::string m = Take(api, api->CreateSessionOptions(&g.so));
    if (m.empty()) m = BaseOptions(api, o, g.so);
    if (!m.empty()) {
      *error = {ErrorKind::kOption, "ONNX Runtime rejected a session option: " + m};
      return nullptr;
    }
    std::vector<size_t> appended;
    for (size_t i = first; i < o.providers.size(); ++i) {
      bool rejected = false;
      std::string why = AppendProvider(api, g.so, o.providers[i], &rejected);
      if (rejected) {
        *error = {ErrorKind::kProviderOption,
                  std::string("ONNX Runtime rejected an option of the ") + ProviderName(o.providers[i].kind) +
                      " execution provider: " + why};
        return nullptr;
      }
      if (why.empty()) {
        appended.push_back(i);
      } else {
        report[i].reason = why;
      }
    }
    if (appended.empty()) {
      std::string all;
      for (const auto& r : report) all += std::string(all.empty() ? "" : "; ") + ProviderName(r.kind) + ": " + r.reason;
      *error = {ErrorKind::kProvider, "None of the requested execution providers can run here (" + all + ")"};
      return nullptr;
    }
    m = Take(api, api->CreateSession(rt->env, o.modelPath.c_str(), g.so, &s->session_));
    if (m.empty()) {
      for (const auto& kv : o.configEntries) {
        size_t size = 0;
        std::string value;
        if (Take(api, api->GetSessionConfigEntry(g.so, kv.first.c_str(), nullptr, &size)).empty() && size > 0) {
          value.resize(size);
          if (!Take(api, api->GetSessionConfigEntry(g.so, kv.first.c_str(), &value[0], &size)).empty()) size = 1;
          value.resize(size - 1);  // size counts the terminating NUL
        }
        s->config_.emplace_back(kv.first, value);
      }
      s->provider_ = o.providers[appended.front()].kind;
      report[appended.front()].used = true;
      // Providers after the one in use are listed as standing by.
      for (size_t k = 1; k < appended.size(); ++k) {
        report[appended[k]].reason = std::string("not needed: ") + ProviderName(s->provider_) +
                                     " has a higher priority (it still runs the nodes " +
                                     ProviderName(s->provider_) + " cannot)";
      }
      break;
    }
    // Only a GPU provider at the top is dropped and retried; a CPU failure, or
    // nothing left to try, is the model's fault.
    const size_t top = appended.front();
    if (o.providers[top].kind == ProviderKind::kCPU || top + 1 >= o.providers.size()) {
      *error = {ErrorKind::kModel, "ONNX Runtime could not load the model " + o.modelPath + ": " + m};
      return nullptr;
    }
    report[top].reason = "session creation failed with it: " + m;
    first = top + 1;
  }
  s->report_ = std::move(report);

  OrtAllocator* alloc = nullptr;
  std::string m = Take(api, api->GetAllocatorWithDefaultOptions(&alloc));
  for (int pass = 0; pass < 2 && m.empty(); ++pass) {
    size_t count = 0;
    m = Take(api, pass == 0 ? api->SessionGetInputCount(s->session_, &count)
                            : api->SessionGetOutputCount(s->session_, &count));
    for (size_t i = 0; i < count && m.empty(); ++i) {
      TensorInfo info;
      char* name = nullptr;
      m = Take(api, pass == 0 ? api->SessionGetInputName(s->session_, i, alloc, &name)
                              : api->SessionGetOutputName(s->session_, i, alloc, &name));
      if (!m.empty()) break;
      info.name = name;
      Take(api, api->AllocatorFree(alloc, name));
      OrtTypeInfo* type = nullptr;
      m = Take(api, pass == 0 ? api->SessionGetInputTypeInfo(s->session_, i, &type)
                              : api->SessionGetOutputTypeInfo(s->session_, i, &type));
      if (!m.empty()) break;
      ReadInfo(api, type, &info, &m);
      api->ReleaseTypeInfo(type);
      (pass == 0 ? s->inputs_ : s->outputs_).push_back(std::move(info));
    }
  }
  if (!m.empty()) {
    *error = {ErrorKind::kModel, "Could not read the inputs and outputs of " + o.modelPath + ": " + m};
    return nullptr;
  }

  // Warm-up: zero inputs, outputs allocated by ONNX Runtime, free dimensions
  // not overridden taken as 1. Skipped for non-tensor and string inputs.
  if (o.warmupRuns > 0) {
    bool runnable = true;
    for (const auto& in : s->inputs_) runnable = runnable && ElementSize(in.elementType) > 0;
    if (runnable) {
      std::vector<OrtValue*> ins;
      std::vector<const char*> inNames, outNames;
      for (const auto& in : s->inputs_) inNames.push_back(in.name.c_str());
      for (const auto& out : s->outputs_) outNames.push_back(out.name.c_str());
      for (const auto& in : s->inputs_) {
        std::vector<int64_t> dims = in.dims;
        for (auto& d : dims) d = d < 0 ? 1 : d;
        OrtValue* v = nullptr;
        m = Take(api, api->CreateTensorAsOrtValue(alloc, dims.data(), dims.size(),
                                                  static_cast<ONNXTensorElementDataType>(in.elementType), &v));
        if (!m.empty()) break;
        ins.push_back(v);
        void* data = nullptr;
        const size_t n = ElementCount(dims);
        if (Take(api, api->GetTensorMutableData(v, &data)).empty() && n > 0) {
          std::memset(data, 0, n * ElementSize(in.elementType));
        }
      }
      const int64_t t0 = NowNs();
      for (int32_t r = 0; r < o.warmupRuns && m.empty(); ++r) {
        std::vector<OrtValue*> outs(outNames.size(), nullptr);
        m = Take(api, api->Run(s->session_, nullptr, inNames.data(), ins.data(), ins.size(), outNames.data(),
                               outNames.size(), outs.data()));
        for (OrtValue* v : outs) {
          if (v) api->ReleaseValue(v);
        }
      }
      s->warmupMs_ = static_cast<double>(NowNs() - t0) / 1e6;
      for (OrtValue* v : ins) api->ReleaseValue(v);
      if (!m.empty()) {
        *error = {ErrorKind::kWarmup, "The warm-up run of " + o.modelPath + " failed: " + m};
        return nullptr;
      }
    }
  }
  return s;
}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (session_) runtime_->api->ReleaseSession(session_);
}

std::unique_ptr<Binding> Session::Bind(const std::vector<Buffer>& inputs, const std::vector<Buffer>& outputs,
                                       Error* error) const {
  const OrtApi* api = runtime_->api;
  std::unique_ptr<Binding> b(new Binding());
  b->runtime_ = runtime_;
  if (Take(api, api->CreateRunOptions(&b->runOptions_)).empty()) {
    Take(api, api->RunOptionsSetRunLogSeverityLevel(b->runOptions_, 4));
  }
  for (int pass = 0; pass < 2; ++pass) {
    const auto& bufs = pass == 0 ? inputs : outputs;
    const auto& infos = pass == 0 ? inputs_ : outputs_;
    for (const Buffer& buf : bufs) {
      if (buf.index < 0 || static_cast<size_t>(buf.index) >= infos.size()) {
        *error = {ErrorKind::kBind, "Expected a model " + std::string(pass == 0 ? "input" : "output") + " index below " +
                                        std::to_string(infos.size()) + " but received " + std::to_string(buf.index)};
        return nullptr;
      }
      const TensorInfo& info = infos[buf.index];
      const size_t n = ElementCount(buf.dims);
      if (buf.elementType != info.elementType || ElementSize(buf.elementType) == 0 ||
          n * ElementSize(buf.elementType) != buf.byteLength) {
        *error = {ErrorKind::kBind, "Expected " + std::to_string(n * ElementSize(info.elementType)) + " bytes of element type " +
                                        std::to_string(info.elementType) + " for " + info.name + " but received " +
                                        std::to_string(buf.byteLength) + " bytes of element type " +
                                        std::to_string(buf.elementType)};
        return nullptr;
      }
      OrtValue* v = nullptr;
      std::string m = Take(api, api->CreateTensorWithDataAsOrtValue(
                                    runtime_->cpuMemory, buf.data, buf.byteLength, buf.dims.data(), buf.dims.size(),
                                    static_cast<ONNXTensorElementDataType>(buf.elementType), &v));
      if (!m.empty()) {
        *error = {ErrorKind::kBind, "ONNX Runtime could not wrap the buffer for " + info.name + ": " + m};
        return nullptr;
      }
      (pass == 0 ? b->inValues_ : b->outValues_).push_back(v);
      (pass == 0 ? b->inNames_ : b->outNames_).push_back(info.name.c_str());
    }
  }
  return b;
}

Error Session::RunNow(const Binding& b) const {
  const OrtApi* api = runtime_->api;
  // The outputs are preallocated: ONNX Runtime writes into their memory and
  // leaves the (non-null) pointers as they are. Nothing is allocated here.
  OrtValue** outs = const_cast<OrtValue**>(b.outValues_.data());
  std::string m = Take(api, api->Run(session_, b.runOptions_, b.inNames_.data(), b.inValues_.data(), b.inValues_.size(),
                                     b.outNames_.data(), b.outValues_.size(), outs));
  if (m.empty()) return Error();
  return {ErrorKind::kRun, m};
}

void Session::Start(Done done) {
  done_ = std::move(done);
  thread_ = std::thread([this] { Loop(); });
}

bool Session::Submit(Job* job) {
  job->timings.submitNs = NowNs();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return false;
    queue_.push_back(job);
  }
  wake_.notify_one();
  return true;
}

bool Session::Close(Job* sentinel) {
  sentinel->binding = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return false;
    closing_ = true;
    queue_.push_back(sentinel);
  }
  wake_.notify_one();
  return true;
}

void Session::Join() {
  if (thread_.joinable()) thread_.join();
}

void Session::Loop() {
  while (true) {
    Job* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;  // destroyed while idle
      job = queue_.front();
      queue_.pop_front();
    }
    if (job->binding == nullptr) {
      done_(job);  // the close sentinel: every job before it has run
      return;
    }
    job->timings.startNs = NowNs();
    job->error = RunNow(*job->binding);
    job->timings.endNs = NowNs();
    done_(job);
  }
}

}  // namespace engine
}  // namespace sonoedge
