/*
 * jitslab/orc.h: C entry points of the jitslab ORC shim (libjitslab-orc-MAJOR.so, MAJOR being
 * the LLVM major it was built for: 22 or 19).
 *
 * Two ways in for programs that cannot use the C++ class directly:
 *
 *  1. LLVM's C API (llvm-c/LLJIT.h, or llvm-sys in Rust):
 *       LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(
 *           builder, jitslab_orc_create_object_linking_layer, &config_or_NULL);
 *
 *  2. A plugin, for tools that dlopen the shim instead of linking it:
 *       void *lib = dlopen("libjitslab-orc-22.so", RTLD_NOW);
 *       JitslabOrcPluginCreate create = (JitslabOrcPluginCreate)dlsym(lib, JITSLAB_ORC_PLUGIN_SYMBOL);
 *       void *mm = create(JITSLAB_ORC_PLUGIN_VERSION, LLVM_VERSION_MAJOR, NULL, &err);
 *       std::unique_ptr<llvm::jitlink::JITLinkMemoryManager> MM(
 *           static_cast<llvm::jitlink::JITLinkMemoryManager *>(mm));
 *     The host must use the same LLVM shared library as the shim (libLLVM-22.so for the 22 shim).
 *
 * Thread-safe; error strings are per thread.
 */
#ifndef JITSLAB_ORC_H
#define JITSLAB_ORC_H

#include "jitslab.h"
#include <llvm-c/LLJIT.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the plugin contract below; changes when it changes incompatibly. */
#define JITSLAB_ORC_PLUGIN_VERSION 1

/* The name of the factory symbol a host looks up with dlsym. */
#define JITSLAB_ORC_PLUGIN_SYMBOL "jitslab_orc_plugin_create"

/*
 * Plugin factory. Checks that the caller was built for this plugin version and the same LLVM
 * major version as the shim, then creates a manager from `config` (NULL for the defaults; read,
 * not kept). Returns an `llvm::jitlink::JITLinkMemoryManager *` the caller owns (delete it
 * through that type), or NULL with `*error` (if `error` is not NULL) pointing to a message that
 * stays valid until the next call of this function on the thread.
 */
void *jitslab_orc_plugin_create(uint32_t plugin_version, uint32_t llvm_version_major,
                                const JitslabConfig *config, const char **error);
typedef void *(*JitslabOrcPluginCreate)(uint32_t plugin_version, uint32_t llvm_version_major,
                                        const JitslabConfig *config, const char **error);

/*
 * An LLVMOrcLLJITBuilderObjectLinkingLayerCreatorFunction. `ctx` is NULL for the default
 * configuration or a `const JitslabConfig *` that must stay valid until the LLJIT is created.
 * Returns an ObjectLinkingLayer that uses a new jitslab manager and registers exception frames.
 * LLVM's C API has no error channel here: on failure it prints the reason on stderr, and the
 * returned layer has no memory manager of jitslab's but fails every link with that reason (so
 * the LLJIT is created and the first lookup reports the error), never NULL.
 */
LLVMOrcObjectLayerRef jitslab_orc_create_object_linking_layer(void *ctx,
                                                              LLVMOrcExecutionSessionRef es,
                                                              const char *triple);

#ifdef __cplusplus
}
#endif

#endif /* JITSLAB_ORC_H */
