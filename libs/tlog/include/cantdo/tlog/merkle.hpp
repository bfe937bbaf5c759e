#pragma once
// The Merkle tree of RFC 9162 section 2.1 (RFC 6962's, as Go's
// golang.org/x/mod/sumdb/tlog computes it): leaf hash SHA-256(0x00 || data),
// interior hash SHA-256(0x01 || left || right), the tree over n leaves split
// at the largest power of two below n. Pure: no I/O.
//
// Where hashes come from is the caller's: a tree's hashes are addressed as
// perfect subtrees, Node{level, index} covering leaves
// [index * 2^level, (index + 1) * 2^level) (0-based leaf indexes). Any
// subtree hash the algorithms need is folded from such nodes, so a store of
// every perfect subtree (tlog's "stored hashes", about two per leaf) serves
// roots and proofs of every size with O(log n) reads.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cantdo::tlog {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(absl::string_view data);
Hash NodeHash(const Hash& left, const Hash& right);
// SHA-256 of nothing: the root of the empty tree.
Hash EmptyRoot();

std::string HashBase64(const Hash& h);
absl::StatusOr<Hash> HashFromBase64(absl::string_view b64);
std::string HashHex(const Hash& h);
// INVALID_ARGUMENT unless exactly 32 bytes.
absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes);
absl::string_view HashBytes(const Hash& h);

struct Node {
  int level = 0;
  int64_t index = 0;
  bool operator==(const Node&) const = default;
};

// Reads the hashes of perfect subtrees, in the order asked.
using NodeReader = std::function<absl::StatusOr<std::vector<Hash>>(const std::vector<Node>&)>;

// The perfect subtrees whose hashes, folded right to left, give the hash of
// leaves [lo, hi): the binary decomposition of the range, largest first.
// REQUIRES: lo < hi and lo a multiple of the largest power of two <= hi-lo
// (true of every range the RFC 9162 algorithms visit, and of [0, n)).
std::vector<Node> RangeNodes(int64_t lo, int64_t hi);

// The root of the tree of `size` leaves (EmptyRoot() for 0).
absl::StatusOr<Hash> TreeRoot(int64_t size, const NodeReader& read);

// RFC 9162 2.1.3.1: the inclusion proof (audit path) of leaf `index` in the
// tree of `size` leaves, bottom up. INVALID_ARGUMENT unless index < size.
absl::StatusOr<std::vector<Hash>> InclusionProof(int64_t index, int64_t size, const NodeReader& read);

// RFC 9162 2.1.4.1: the consistency proof between the trees of `old_size`
// and `new_size` leaves. INVALID_ARGUMENT unless 0 < old_size <= new_size.
absl::StatusOr<std::vector<Hash>> ConsistencyProof(int64_t old_size, int64_t new_size, const NodeReader& read);

// RFC 9162 2.1.3.2. OK, or DATA_LOSS saying what did not verify.
absl::Status VerifyInclusion(int64_t index, int64_t size, const Hash& leaf_hash, const std::vector<Hash>& proof,
                             const Hash& root);

// RFC 9162 2.1.4.2. old_size == new_size verifies only with an empty proof
// and equal roots. OK, or DATA_LOSS.
absl::Status VerifyConsistency(int64_t old_size, int64_t new_size, const Hash& old_root, const Hash& new_root,
                               const std::vector<Hash>& proof);

// The hash of leaves [lo, hi) from stored nodes (REQUIRES as RangeNodes).
absl::StatusOr<Hash> SubtreeHash(int64_t lo, int64_t hi, const NodeReader& read);

// A NodeReader over the leaf hashes themselves, computing each node (so
// O(2^level) per node). `leaves` must outlive the reader.
NodeReader LeafNodeReader(const std::vector<Hash>& leaves);

// Leaves [lo, hi) of a tree of `size` leaves, 0 <= lo < hi <= size.
struct LeafRange {
  int64_t lo = 0, hi = 0;
  bool exact() const { return hi - lo == 1; }
};

// Where two trees of `size` leaves whose roots differ first differ, found
// by descending from the root of tree `a`, whose hash `a_root` is trusted:
// a node of `a` is believed only when it and its sibling hash to their
// trusted parent (so `a` may be served by someone untrusted, and a
// collision-free SHA-256 keeps it honest). Exact (one leaf) when `a`'s
// nodes authenticate all the way down; otherwise the range below which
// they stopped to. REQUIRES: b's root differs from a_root.
absl::StatusOr<LeafRange> FirstDifference(int64_t size, const Hash& a_root, const NodeReader& a, const NodeReader& b);

// The right edge of a tree being built leaf by leaf (a "compact range"):
// the roots of the perfect subtrees of its binary decomposition. Appending
// a leaf yields the perfect subtrees it completes, which is exactly what a
// store of perfect subtrees must add.
class CompactRange {
 public:
  // The range of a tree of `size` leaves from its RangeNodes(0, size) hashes.
  // INVALID_ARGUMENT when their count does not fit `size`.
  static absl::StatusOr<CompactRange> Of(int64_t size, std::vector<Hash> nodes);

  int64_t size() const { return size_; }
  // Appends a leaf (its LeafHash); returns the perfect subtrees completed,
  // the leaf itself first (level 0, then 1, ...).
  std::vector<std::pair<Node, Hash>> Append(const Hash& leaf_hash);
  Hash Root() const;

 private:
  int64_t size_ = 0;
  std::vector<Hash> nodes_;  // RangeNodes(0, size_) order: largest first
};

}  // namespace cantdo::tlog
