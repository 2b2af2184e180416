#include "runtime/compute_thread.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace vitorch::runtime {
namespace {

struct Task {
  const std::function<void()>* work = nullptr;
  std::exception_ptr error;
  bool done = false;
};

std::atomic<int> wanted_threads{0};

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { loop(); }) { thread_.detach(); }

  bool is_current() const { return std::this_thread::get_id() == id_.load(); }

  void run(const std::function<void()>& work) {
    Task task;
    task.work = &work;
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&task);
    wake_.notify_all();
    finished_.wait(lock, [&] { return task.done; });
    if (task.error) std::rethrow_exception(task.error);
  }

 private:
  void loop() {
    id_.store(std::this_thread::get_id());
    while (true) {
      Task* task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return !queue_.empty(); });
        task = queue_.front();
        queue_.pop_front();
      }
      // OpenMP's and MKL's thread counts are per thread: setNumThreads, called on the main thread, takes effect
      // here.
      const int wanted = wanted_threads.load();
      if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
      try {
        (*task->work)();
      } catch (...) {
        task->error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      task->done = true;
      finished_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  std::deque<Task*> queue_;
  // Read by every caller without the lock (is_current), hence atomic.
  std::atomic<std::thread::id> id_{};
  // Last: started once everything above exists. Detached and never stopped: it lives as long as the process, so
  // that no exit-time destructor waits on it.
  std::thread thread_;
};

bool enabled() {
  static const bool value = [] {
    const char* setting = std::getenv("VITORCH_COMPUTE_THREAD");
    return setting == nullptr || std::strcmp(setting, "0") != 0;
  }();
  return value;
}

ComputeThread& compute_thread() {
  // Deliberately leaked, for the reason above.
  static ComputeThread* instance = new ComputeThread();
  return *instance;
}

// The calling thread's OpenMP and MKL counts, found in the libraries libtorch loaded (both count per thread;
// MKL's C entry point is the capitalised one, the lower-case names are its Fortran interface).
void limit_calling_thread_to_one() {
  using SetCount = void (*)(int);
  using SetLocalCount = int (*)(int);
  static const auto omp_set = reinterpret_cast<SetCount>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  static const auto mkl_set = reinterpret_cast<SetLocalCount>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads_Local"));
  if (omp_set) omp_set(1);
  if (mkl_set) mkl_set(1);
}

}  // namespace

void set_intra_op_threads(int count) {
  if (!enabled()) {
    at::set_num_threads(count);
    return;
  }
  wanted_threads.store(count);
  compute_thread();  // started now, so that its first task does not pay for it
  limit_calling_thread_to_one();
}

int intra_op_threads() {
  const int wanted = wanted_threads.load();
  return enabled() && wanted > 0 ? wanted : at::get_num_threads();
}

void run_on_compute_thread(const std::function<void()>& work) {
  if (!enabled()) {
    work();
    return;
  }
  auto& thread = compute_thread();
  if (thread.is_current()) {
    work();
    return;
  }
  thread.run(work);
}

}  // namespace vitorch::runtime
