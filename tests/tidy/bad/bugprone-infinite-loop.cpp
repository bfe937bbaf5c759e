// Planted for scripts/check-tidy --self-test: nothing in the body changes i.
int Planted(int limit) {
  int i = 0;
  int sum = 0;
  while (i < limit) {
    sum += limit;
  }
  return sum;
}
