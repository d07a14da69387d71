/* The other module of the preload's lli tests (preload_main.c). */
int preload_counter = 1;
const char preload_greeting[] = "hello from two modules";
int preload_bump(int by) { return by * 2; }
