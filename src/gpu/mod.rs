//! GPU: device, weights, kernels, KV cache.
