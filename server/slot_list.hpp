#pragma once
#include <cstddef>
#include <vector>

namespace herald {

/// An unordered set of pointers with O(1) add and remove and no per-item allocation. Each
/// item remembers its position in its `slot_` member. Single-threaded.
template <typename Ptr>
class SlotList {
 public:
  void add(Ptr item) {
    item->slot_ = items_.size();
    items_.push_back(std::move(item));
  }
  template <typename T>
  void remove(T* item) {
    std::size_t i = item->slot_;
    if (i >= items_.size() || &*items_[i] != item) return;  // not (or no longer) here
    items_[i] = std::move(items_.back());
    items_[i]->slot_ = i;
    items_.pop_back();
  }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  /// Calls f on every item; f may remove the item it is given (the walk goes backwards, so
  /// the item swapped into its place has been visited already).
  template <typename F>
  void for_each(F f) {
    for (std::size_t i = items_.size(); i-- > 0;)
      if (i < items_.size()) f(items_[i]);
  }

 private:
  std::vector<Ptr> items_;
};

}  // namespace herald
