// Planted for scripts/check-tidy --self-test: a constructor that builds and
// drops a temporary of its own type instead of delegating.
struct Planted {
  explicit Planted(int n) : n_(n) {}
  Planted() { Planted(0); }
  int n_ = 0;
};
