// seer command line (work in progress).
int main() { return 0; }
