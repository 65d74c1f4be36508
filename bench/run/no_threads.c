// What one run costs when the program does nothing: main returns at once, so a schedule is the
// fork of the fork server, the run's handshake and its exit. bench/run_benchmark.sh reports it
// as runs per second.
int main(void) { return 0; }
