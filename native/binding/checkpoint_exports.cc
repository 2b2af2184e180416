// Checkpoints without a model:
//   loadCheckpoint(path, { verifyChecksums, unwrap, skipUnknownGlobals, device }) / loadCheckpointAsync -> { format,
//   entries, notes, metadata } saveCheckpoint(path, entries, { format, metadata }) / saveCheckpointAsync
#include "binding/exports.h"
#include "binding/js_errors.h"
#include "binding/promise_worker.h"
#include "binding/tensor_wrap.h"
#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "common/device.h"
#include "common/errors.h"

namespace vitorch::binding {
namespace {

struct LoadRequest {
  std::string path;
  checkpoint::ReadOptions options;
  c10::Device device{c10::kCPU};
};

struct SaveRequest {
  std::string path;
  checkpoint::NamedTensors tensors;
  checkpoint::WriteOptions options;
};

std::string path_argument(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw InvalidType("expected a checkpoint path (string)");
  return info[0].As<Napi::String>();
}

Napi::Object options_argument(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[index].IsObject()) throw InvalidType("expected an options object");
  return info[index].As<Napi::Object>();
}

bool flag(const Napi::Object& options, const char* key, bool fallback) {
  if (!options.Has(key) || options.Get(key).IsUndefined()) return fallback;
  if (!options.Get(key).IsBoolean()) throw InvalidType(std::string("expected a boolean for ") + key);
  return options.Get(key).As<Napi::Boolean>();
}

LoadRequest load_request(const Napi::CallbackInfo& info) {
  LoadRequest request{path_argument(info), {}, c10::Device(c10::kCPU)};
  const auto options = options_argument(info, 1);
  request.options.verify_checksums = flag(options, "verifyChecksums", true);
  request.options.unwrap = flag(options, "unwrap", true);
  request.options.skip_unknown_globals = flag(options, "skipUnknownGlobals", false);
  if (options.Has("device") && options.Get("device").IsString()) {
    // Checked before the file is read, so asking for a missing GPU fails at once.
    request.device = usable_device(options.Get("device").As<Napi::String>());
  }
  return request;
}

checkpoint::Checkpoint load(const LoadRequest& request) {
  auto loaded = checkpoint::load_checkpoint_file(request.path, request.options);
  if (!request.device.is_cpu()) {
    for (auto& [name, value] : loaded.tensors) value = value.to(request.device);
  }
  return loaded;
}

Napi::Object checkpoint_to_js(Napi::Env env, checkpoint::Checkpoint loaded) {
  auto entries = Napi::Array::New(env, loaded.tensors.size());
  for (uint32_t i = 0; i < loaded.tensors.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, loaded.tensors[i].first));
    pair.Set(1u, TensorWrap::New(env, std::move(loaded.tensors[i].second)));
    entries.Set(i, pair);
  }
  auto notes = Napi::Array::New(env, loaded.notes.size());
  for (uint32_t i = 0; i < loaded.notes.size(); ++i) notes.Set(i, Napi::String::New(env, loaded.notes[i]));
  auto metadata = Napi::Object::New(env);
  for (const auto& [key, value] : loaded.metadata) metadata.Set(key, Napi::String::New(env, value));
  auto result = Napi::Object::New(env);
  result.Set("format", Napi::String::New(env, loaded.format));
  result.Set("entries", entries);
  result.Set("notes", notes);
  result.Set("metadata", metadata);
  return result;
}

SaveRequest save_request(const Napi::CallbackInfo& info) {
  SaveRequest request{path_argument(info), {}, {}};
  if (info.Length() < 2 || !info[1].IsArray()) throw InvalidType("expected [name, Tensor] pairs to save");
  auto entries = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < entries.Length(); ++i) {
    Napi::Value entry = entries.Get(i);
    if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 2 || !entry.As<Napi::Array>().Get(0u).IsString()) {
      throw InvalidType("expected [name, Tensor] pairs to save");
    }
    const std::string name = entry.As<Napi::Array>().Get(0u).As<Napi::String>();
    // The tensor is referenced, not copied: the writer copies each to contiguous CPU memory as it streams.
    request.tensors.emplace_back(name, TensorWrap::From(entry.As<Napi::Array>().Get(1u), name.c_str()));
  }
  const auto options = options_argument(info, 2);
  if (options.Has("format") && options.Get("format").IsString()) {
    const std::string format = options.Get("format").As<Napi::String>();
    if (format == "safetensors") {
      request.options.format = checkpoint::WriteFormat::kSafetensors;
    } else if (format != "pth") {
      throw InvalidValue("expected format 'pth' or 'safetensors', received '" + format + "'");
    }
  }
  if (options.Has("metadata") && options.Get("metadata").IsObject()) {
    auto metadata = options.Get("metadata").As<Napi::Object>();
    auto keys = metadata.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      Napi::Value key = keys.Get(i);
      Napi::Value value = metadata.Get(key);
      if (!value.IsString()) throw InvalidType("expected string values in metadata");
      request.options.metadata[key.ToString()] = value.As<Napi::String>();
    }
  }
  return request;
}

class LoadCheckpointWorker : public PromiseWorker {
 public:
  LoadCheckpointWorker(Napi::Env env, LoadRequest request)
      : PromiseWorker(env, "vitorch.loadCheckpointAsync"), request_(std::move(request)) {}

 protected:
  void Compute() override { loaded_ = load(request_); }
  Napi::Value Result(Napi::Env env) override { return checkpoint_to_js(env, std::move(loaded_)); }

 private:
  LoadRequest request_;
  checkpoint::Checkpoint loaded_;
};

class SaveCheckpointWorker : public PromiseWorker {
 public:
  SaveCheckpointWorker(Napi::Env env, SaveRequest request)
      : PromiseWorker(env, "vitorch.saveCheckpointAsync"), request_(std::move(request)) {}

 protected:
  void Compute() override { checkpoint::write_checkpoint(request_.path, request_.tensors, request_.options); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  SaveRequest request_;
};

Napi::Value LoadCheckpoint(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(),
                        [&]() -> Napi::Value { return checkpoint_to_js(info.Env(), load(load_request(info))); });
}

Napi::Value LoadCheckpointAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(
      info.Env(), [&]() -> Napi::Value { return (new LoadCheckpointWorker(info.Env(), load_request(info)))->start(); });
}

Napi::Value SaveCheckpoint(const Napi::CallbackInfo& info) {
  return with_js_errors(info.Env(), [&]() -> Napi::Value {
    auto request = save_request(info);
    checkpoint::write_checkpoint(request.path, request.tensors, request.options);
    return info.Env().Undefined();
  });
}

Napi::Value SaveCheckpointAsync(const Napi::CallbackInfo& info) {
  return with_js_errors(
      info.Env(), [&]() -> Napi::Value { return (new SaveCheckpointWorker(info.Env(), save_request(info)))->start(); });
}

}  // namespace

void register_checkpoint(Napi::Env env, Napi::Object exports) {
  exports.Set("loadCheckpoint", Napi::Function::New<LoadCheckpoint>(env, "loadCheckpoint"));
  exports.Set("loadCheckpointAsync", Napi::Function::New<LoadCheckpointAsync>(env, "loadCheckpointAsync"));
  exports.Set("saveCheckpoint", Napi::Function::New<SaveCheckpoint>(env, "saveCheckpoint"));
  exports.Set("saveCheckpointAsync", Napi::Function::New<SaveCheckpointAsync>(env, "saveCheckpointAsync"));
}

}  // namespace vitorch::binding
