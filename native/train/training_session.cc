#include "train/training_session.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstring>
#include <filesystem>
#include <sstream>

#include "checkpoint/atomic_file_writer.h"
#include "common/describe.h"
#include "common/errors.h"
#include "train/autocast_scope.h"
#include "train/loss.h"

namespace vitorch::train {
namespace {

constexpr const char* kFormatTag = "vitorch-training-state-1";

torch::Tensor bytes_tensor(const std::string& text) {
  auto tensor = torch::empty({static_cast<int64_t>(text.size())}, torch::kUInt8);
  if (!text.empty()) std::memcpy(tensor.data_ptr(), text.data(), text.size());
  return tensor;
}

std::string tensor_text(const torch::Tensor& tensor) {
  const auto contiguous = tensor.to(torch::kCPU, torch::kUInt8).contiguous();
  return std::string(static_cast<const char*>(contiguous.data_ptr()), static_cast<size_t>(contiguous.numel()));
}

// What a training-state file must agree with before it is loaded: every parameter's name and shape, the optimizer
// and its groups.
std::string layout_of(const model::VisionTransformerImpl& module, const BuiltOptimizer& built) {
  std::ostringstream out;
  out << kFormatTag << "\noptimizer " << optimizer_kind_name(built.kind) << "\n";
  for (const auto& item : module.named_parameters()) {
    out << "parameter " << item.key() << " " << format_shape(item.value().sizes()) << "\n";
  }
  for (size_t g = 0; g < built.group_names.size(); ++g) {
    out << "group " << g << ":";
    for (const auto& name : built.group_names[g]) out << " " << name;
    out << "\n";
  }
  return out.str();
}

// The first line where two layouts differ, for the error message.
std::string first_difference(const std::string& expected, const std::string& received) {
  std::istringstream a(expected), b(received);
  std::string line_a, line_b;
  while (true) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) return "";
    if (!more_a) line_a = "(nothing)";
    if (!more_b) line_b = "(nothing)";
    if (line_a != line_b) return "expected '" + line_a + "', the file has '" + line_b + "'";
  }
}

}  // namespace

TrainingSession::TrainingSession(model::VisionTransformer model, const OptimizerSpec& spec) : model_(std::move(model)) {
  NamedParameters parameters;
  for (const auto& item : model_->named_parameters()) parameters.emplace_back(item.key(), item.value());
  built_ = build_optimizer(spec, parameters);
}

StepResult TrainingSession::step(const torch::Tensor& images, const torch::Tensor& labels, const StepOptions& options) {
  auto& module = *model_;
  if (module.options.num_classes() == 0) {
    throw InvalidValue("expected a model with a classification head (numClasses >= 1) to train, received numClasses 0");
  }
  if (!module.is_training()) {
    throw std::runtime_error(
        "expected the model in training mode for a training step (model.train()), received a "
        "model in evaluation mode");
  }
  if (options.accumulation_steps < 1) {
    throw InvalidValue("expected accumulationSteps >= 1, received " + std::to_string(options.accumulation_steps));
  }
  module.check_input(images);
  check_labels(labels, images.size(0), module.options.num_classes());
  const auto targets = labels.to(images.device(), torch::kInt64);
  // What evaluate() prepared is about to go stale: free it rather than hold the weights twice while training.
  module.release_prepared();

  c10::AutoGradMode grad_mode(true);
  distributed::DataParallel* parallel = group_ ? &data_parallel() : nullptr;
  const bool synchronize = options.apply_update;
  torch::Tensor logits;
  if (parallel) parallel->before_forward(synchronize);
  {
    AutocastScope autocast(images.device().type(), options.autocast);
    logits = module.forward(images);
  }
  if (parallel) parallel->after_forward(synchronize);
  const auto loss = cross_entropy(logits, targets, options.label_smoothing);
  const auto scaled = options.accumulation_steps > 1 ? loss / static_cast<double>(options.accumulation_steps) : loss;
  if (parallel) group_->guarded("gradient all-reduce", [&] { scaled.backward(); });
  else scaled.backward();

  StepResult result;
  result.loss = loss.item<double>();
  result.correct = logits.detach().argmax(1).eq(targets).sum().item<int64_t>();
  result.count = images.size(0);
  if (options.apply_update) result.grad_norm = update(options.max_grad_norm);
  result.global_loss = result.loss;
  result.global_correct = result.correct;
  result.global_count = result.count;
  result.stop = options.stop_requested;
  if (parallel) {
    const auto totals =
        group_->all_reduce_sum({result.loss * static_cast<double>(result.count), static_cast<double>(result.correct),
                                static_cast<double>(result.count), options.stop_requested ? 1.0 : 0.0});
    result.global_count = static_cast<int64_t>(totals[2]);
    result.global_loss = result.global_count > 0 ? totals[0] / totals[2] : 0.0;
    result.global_correct = static_cast<int64_t>(totals[1]);
    result.stop = totals[3] > 0;
  }
  return result;
}

void TrainingSession::set_process_group(std::shared_ptr<distributed::ProcessGroup> group) {
  data_parallel_.reset();
  group_ = std::move(group);
}

distributed::DataParallel& TrainingSession::data_parallel() {
  distributed::NamedTensors parameters;
  for (const auto& item : model_->named_parameters()) parameters.emplace_back(item.key(), item.value());
  if (!data_parallel_ || !data_parallel_->serves(parameters)) {
    // A changed trainable set gets a new Reducer, as a new DistributedDataParallel would (data_parallel.h); the old
    // one goes first, taking its gradient hooks with it.
    data_parallel_.reset();
    data_parallel_ = std::make_unique<distributed::DataParallel>(group_, parameters);
    count_state_bytes(/*force=*/true);
  }
  return *data_parallel_;
}

std::vector<torch::Tensor> TrainingSession::parameters_with_gradients() const {
  std::vector<torch::Tensor> result;
  for (const auto& group : built_.optimizer->param_groups()) {
    for (const auto& parameter : group.params()) {
      if (parameter.grad().defined()) result.push_back(parameter);
    }
  }
  return result;
}

double TrainingSession::apply_update(double max_grad_norm) {
  if (group_) {
    throw InvalidValue(
        "expected trainer.step() in a data-parallel Trainer, received trainer.update() after a backward run from "
        "JavaScript: only step() averages the gradients across the ranks");
  }
  return update(max_grad_norm);
}

double TrainingSession::update(double max_grad_norm) {
  if (max_grad_norm < 0) throw InvalidValue("expected maxGradNorm >= 0, received " + std::to_string(max_grad_norm));
  double norm = -1.0;
  if (max_grad_norm > 0) {
    const auto parameters = parameters_with_gradients();
    if (!parameters.empty()) norm = torch::nn::utils::clip_grad_norm_(parameters, max_grad_norm);
  }
  built_.optimizer->step();
  // torch::optim's SGD writes the weights without moving their version counters (measured: an evaluation after SGD
  // steps saw the first evaluation's resampled position embedding), and the model caches what it derives from a
  // weight by version (VisionTransformerImpl::position_embedding_for_input): every update says the weights changed.
  for (const auto& group : built_.optimizer->param_groups()) {
    for (const auto& parameter : group.params()) parameter.unsafeGetTensorImpl()->bump_version();
  }
  zero_grad();
  count_state_bytes(/*force=*/false);
  return norm;
}

void TrainingSession::count_state_bytes(bool force) {
  const auto states = built_.optimizer->state().size();
  if (!force && states == counted_states_) return;
  counted_states_ = states;
  state_bytes_.store(state_host_bytes(built_) + (data_parallel_ ? data_parallel_->bucket_host_bytes() : 0),
                     std::memory_order_relaxed);
}

// Gradients are reset to undefined (set_to_none), as PyTorch does by default: a parameter frozen afterwards then
// has no gradient, and the optimizer leaves it untouched, weight decay included.
void TrainingSession::zero_grad() { built_.optimizer->zero_grad(/*set_to_none=*/true); }

EvaluationResult TrainingSession::evaluate(const torch::Tensor& images, const torch::Tensor& labels, int64_t topk,
                                           std::optional<c10::ScalarType> autocast) {
  auto& module = *model_;
  const auto classes = module.options.num_classes();
  if (classes == 0) {
    throw InvalidValue(
        "expected a model with a classification head (numClasses >= 1) to evaluate, received numClasses 0");
  }
  if (topk < 1) throw InvalidValue("expected topk >= 1, received " + std::to_string(topk));
  module.check_input(images);
  check_labels(labels, images.size(0), classes);

  const bool was_training = module.is_training();
  module.eval();
  EvaluationResult result;
  try {
    c10::InferenceMode inference;
    const auto targets = labels.to(images.device(), torch::kInt64);
    torch::Tensor logits;
    {
      AutocastScope scope(images.device().type(), autocast);
      logits = module.forward(images).to(torch::kFloat32);
    }
    result.loss_sum = cross_entropy(logits, targets, 0.0, /*sum=*/true).item<double>();
    const auto k = std::min(topk, classes);
    const auto top = std::get<1>(logits.topk(k, 1));
    const auto hits = top.eq(targets.unsqueeze(1));
    result.top1 = hits.select(1, 0).sum().item<int64_t>();
    result.topk = hits.any(1).sum().item<int64_t>();
    result.count = images.size(0);
    result.predictions = top.select(1, 0).to(torch::kCPU, torch::kInt32).contiguous();
  } catch (...) {
    module.torch::nn::Module::train(was_training);
    throw;
  }
  // The module's own mode switch, without VisionTransformerImpl::train's freeing of the prepared weights: the next
  // evaluation batch reuses them (repacking ViT-B/16's for every batch would cost ~0.1 s each); step() frees them.
  module.torch::nn::Module::train(was_training);
  return result;
}

std::vector<double> TrainingSession::learning_rates() const {
  std::vector<double> rates;
  for (const auto& group : built_.optimizer->param_groups()) rates.push_back(group.options().get_lr());
  return rates;
}

void TrainingSession::save(const std::string& path, const std::string& caller_state) const {
  torch::serialize::OutputArchive archive;
  archive.write("layout", bytes_tensor(layout_of(*model_, built_)));
  archive.write("caller_state", bytes_tensor(caller_state));
  int64_t index = 0;
  for (const auto& item : model_->named_parameters()) {
    archive.write("p" + std::to_string(index++), item.value().detach());
  }
  torch::serialize::OutputArchive optimizer_archive;
  built_.optimizer->save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("cpu_generator", generator.get_state());
  }
  // As the checkpoints are written (checkpoint/atomic_file_writer.h): a temporary file of its own beside the target,
  // flushed to disk and renamed over it, so that a crash or a power loss mid-write leaves the previous state intact.
  try {
    checkpoint::AtomicFileWriter file(path);
    archive.save_to([&file](const void* data, size_t size) {
      file.write(data, size);
      return size;
    });
    file.commit();
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& error) {
    throw std::runtime_error("could not write the training state to " + path + ": " + error.what());
  }
}

std::string TrainingSession::load(const std::string& path) {
  if (!std::filesystem::exists(path)) throw CheckpointError("no training state at " + path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& error) {
    throw CheckpointError(path + " is not a vitorch training state: " + error.what_without_backtrace());
  }
  torch::Tensor layout_bytes;
  if (!archive.try_read("layout", layout_bytes))
    throw CheckpointError(path + " is not a vitorch training state (no layout record)");
  const auto expected = layout_of(*model_, built_);
  const auto found = tensor_text(layout_bytes);
  if (found != expected) {
    throw StateDictError("the training state " + path +
                         " was written for another model or optimizer: " + first_difference(expected, found));
  }
  // Everything is read before anything is written, so a damaged file changes nothing.
  std::vector<torch::Tensor> weights;
  const auto parameters = model_->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    torch::Tensor value;
    if (!archive.try_read("p" + std::to_string(i), value) || !value.sizes().equals(parameters[i].sizes())) {
      throw CheckpointError(path + " is damaged: parameter " + std::to_string(i) + " is missing or of the wrong shape");
    }
    weights.push_back(value);
  }
  torch::Tensor caller_state, generator_state;
  torch::serialize::InputArchive optimizer_archive;
  if (!archive.try_read("caller_state", caller_state) || !archive.try_read("cpu_generator", generator_state) ||
      !archive.try_read("optimizer", optimizer_archive)) {
    throw CheckpointError(path + " is damaged: a record is missing");
  }
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < parameters.size(); ++i) parameters[i].copy_(weights[i]);
  }
  built_.optimizer->load(optimizer_archive);
  // Loading the optimizer restores each group's saved options; the learning-rate scales stay this session's.
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(generator_state);
  }
  zero_grad();
  // A loaded state may hold other tensors than this session's (say, without amsgrad's third moment, which the next
  // update adds): counted now and again after that update.
  count_state_bytes(/*force=*/true);
  counted_states_ = static_cast<size_t>(-1);
  return tensor_text(caller_state);
}

}  // namespace vitorch::train
