// synth-gen: writes a synthetic C program of N translation units for linking tests and
// benchmarks.
//
//   synth-gen N OUTDIR      writes OUTDIR/unit_0000.c ... unit_<N-1>.c and OUTDIR/main.c
//
// Each unit has what real objects have: exported functions that call into other units, a
// .rodata table and string, .data, .bss and a table of function pointers (relocated data).
// main calls every unit and prints a checksum, so a JIT'd run can be compared with the
// natively linked program. The output depends only on N.
#include <cstdio>
#include <cstdlib>
#include <string>

static void write(const std::string &Path, const std::string &Text) {
  FILE *F = std::fopen(Path.c_str(), "w");
  if (!F || std::fwrite(Text.data(), 1, Text.size(), F) != Text.size() || std::fclose(F)) {
    std::perror(Path.c_str());
    std::exit(1);
  }
}

static std::string unitName(unsigned I) {
  char Buf[16];
  std::snprintf(Buf, sizeof Buf, "unit_%04u", I);
  return Buf;
}

int main(int Argc, char **Argv) {
  if (Argc != 3 || std::atoi(Argv[1]) <= 0) {
    std::fprintf(stderr, "usage: synth-gen N OUTDIR\n");
    return 2;
  }
  const unsigned N = std::atoi(Argv[1]);
  const std::string Dir = Argv[2];
  for (unsigned I = 0; I < N; ++I) {
    std::string U = unitName(I), Next = unitName((I + 1) % N), Far = unitName((I * 7 + 3) % N);
    std::string T = "#include <stdint.h>\n";
    T += "uint64_t " + Next + "_f1(uint64_t x, int depth);\n";
    T += "uint64_t " + Far + "_f0(uint64_t x, int depth);\n";
    T += "static const uint32_t table[16] = {";
    for (unsigned K = 0; K < 16; ++K)
      T += std::to_string((I * 2654435761u + K * 40503u) & 0xffffff) + (K < 15 ? ", " : "");
    T += "};\n";
    T += "static const char name[] = \"" + U + " says hello\";\n";
    T += "uint64_t " + U + "_data = " + std::to_string(I * 11400714819323198485ull >> 8) + "ull;\n";
    T += "static uint64_t scratch[8];\n";
    T += "static uint64_t mix(uint64_t x, int d) { (void)d; return x * 31 + table[x & 15]; }\n";
    T += "static uint64_t twist(uint64_t x, int d) { return (x ^ (x >> 7)) + (uint64_t)d; }\n";
    T += "static uint64_t fold(uint64_t x, int d) { return x + " + U + "_data + (uint64_t)d; }\n";
    T += "uint64_t (*const " + U + "_ops[3])(uint64_t, int) = {mix, twist, fold};\n";
    T += "uint64_t " + U +
         "_f0(uint64_t x, int depth) {\n"
         "  uint64_t h = x ^ table[x & 15] ^ " +
         U +
         "_data;\n"
         "  for (const char *p = name; *p; p++) h = h * 131 + (unsigned char)*p;\n"
         "  scratch[x & 7] += h;\n"
         "  if (depth > 0) h += " +
         Next +
         "_f1(h, depth - 1);\n"
         "  return h;\n}\n";
    T += "uint64_t " + U +
         "_f1(uint64_t x, int depth) {\n"
         "  uint64_t h = " +
         U +
         "_ops[x % 3](x, depth);\n"
         "  if (depth > 0) h ^= " +
         Far +
         "_f0(h, depth - 1);\n"
         "  return h + scratch[x & 7];\n}\n";
    write(Dir + "/" + U + ".c", T);
  }
  std::string M = "#include <stdint.h>\n#include <stdio.h>\n";
  for (unsigned I = 0; I < N; ++I)
    M += "uint64_t " + unitName(I) + "_f0(uint64_t x, int depth);\n";
  M += "int main(void) {\n  uint64_t sum = 0;\n";
  for (unsigned I = 0; I < N; ++I)
    M += "  sum = sum * 1099511628211ull + " + unitName(I) + "_f0(" + std::to_string(I) + ", 3);\n";
  M += "  printf(\"" + std::to_string(N) +
       " units, checksum %016llx\\n\", (unsigned long long)sum);\n  return 0;\n}\n";
  write(Dir + "/main.c", M);
  return 0;
}
