//! The GPU device: adapter selection, limits, buffer helpers and readback.
//!
//! Correctness never relies on more than WebGPU's default limits (128 MiB per storage
//! binding, 256 invocations per workgroup, 8 storage buffers per stage, 4 bind groups): the
//! device is requested with the adapter's larger limits where it has them, but kernels and
//! tensor sharding are sized for the defaults unless a limit is read from here.

use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};

/// Storage bindings any kernel may use per shader stage (Chrome's default, even where the
/// adapter allows more).
pub const MAX_STORAGE_BUFFERS_PER_STAGE: u32 = 8;

struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    /// Bound to kernel slots a variant does not read (explicit layouts need every slot).
    placeholder: wgpu::Buffer,
    /// Why the device was lost, once the browser or driver has taken it away.
    lost: Arc<Mutex<Option<String>>>,
}

/// Which shape of the weight-reading kernels suits the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelShape {
    /// CPU adapters (SwiftShader, llvmpipe/lavapipe, WARP): barrier-free, each invocation a
    /// few rows over all of K, neighbouring invocations reading neighbouring words.
    Lanes,
    /// GPUs: each row's K split over the invocations of a workgroup, reduced in workgroup
    /// memory, so that every product has many threads in flight.
    SplitK,
}

/// Whether an adapter is a CPU implementation of the API (SwiftShader, llvmpipe/lavapipe,
/// WARP) rather than a GPU.
fn software_adapter(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || [
            "swiftshader",
            "llvmpipe",
            "lavapipe",
            "warp",
            "basic render",
        ]
        .iter()
        .any(|n| name.contains(n))
}

impl KernelShape {
    /// `HEARTH_KERNELS=cpu|gpu` (native only), or the adapter's kind.
    fn for_adapter(info: &wgpu::AdapterInfo) -> Self {
        let forced = std::env::var("HEARTH_KERNELS").ok();
        match forced.as_deref() {
            Some("cpu") => return Self::Lanes,
            Some("gpu") => return Self::SplitK,
            _ => {}
        }
        if software_adapter(info) {
            Self::Lanes
        } else {
            Self::SplitK
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Lanes => "lanes",
            Self::SplitK => "split-k",
        }
    }
}

/// `HEARTH_QUADS=0` (native only) keeps the one-token kernel of CPU adapters at one row
/// per load (`tile1`), for comparisons.
fn quads_allowed() -> bool {
    std::env::var("HEARTH_QUADS").map_or(true, |v| v != "0")
}

/// A cloneable handle to one GPU device and its queue.
#[derive(Clone)]
pub struct GpuContext {
    inner: Arc<Inner>,
    /// Largest storage binding used when splitting tensors; at most the device's limit.
    /// Tests lower it to exercise sharding.
    max_binding: u64,
    /// The kernel shape models built through this handle use.
    shape: KernelShape,
    /// Whether the one-token `Lanes` kernel reads 4 rows per vector load (`quad1`).
    quads: bool,
}

impl GpuContext {
    /// Requests an adapter (any backend; CPU and fallback adapters such as lavapipe or
    /// SwiftShader are accepted) and a device with no required features.
    // In the browser wgpu's handles are neither Send nor Sync (one thread owns them); the
    // Arc is what native threads share. Where nothing crosses threads it is an Rc in effect.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub async fn new() -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        let offered = adapter.limits();
        let limits = requested_limits(&offered);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("hearth"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Gpu(format!("requesting a device: {e}")))?;
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            log::error!("uncaptured GPU error: {e}");
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_note = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            let why = format!("{reason:?}: {message}");
            log::warn!("GPU device lost ({why})");
            if let Ok(mut slot) = lost_note.lock() {
                *slot = Some(why);
            }
        });
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused binding"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let info = adapter.get_info();
        Ok(Self {
            shape: KernelShape::for_adapter(&info),
            quads: quads_allowed(),
            inner: Arc::new(Inner {
                device,
                queue,
                info,
                features: adapter.features(),
                limits,
                placeholder,
                lost,
            }),
            max_binding,
        })
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.inner.info
    }

    /// The limits the device was created with.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// Features the adapter offers (none are enabled on the device).
    pub fn adapter_features(&self) -> wgpu::Features {
        self.inner.features
    }

    /// A small buffer for kernel slots a variant does not use.
    pub fn placeholder(&self) -> &wgpu::Buffer {
        &self.inner.placeholder
    }

    /// Largest storage binding, in bytes, that tensors are split to fit.
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// The same device with a smaller binding limit: tensors uploaded through the returned
    /// handle are split into more shards. Values above the device's limit are ignored.
    pub fn with_max_binding(&self, bytes: u64) -> Self {
        Self {
            max_binding: bytes.clamp(4, self.max_binding),
            ..self.clone()
        }
    }

    /// The kernel shape chosen for this adapter.
    pub fn kernel_shape(&self) -> KernelShape {
        self.shape
    }

    /// The same device with models built in the given kernel shape (tests run both on one
    /// adapter).
    pub fn with_kernel_shape(&self, shape: KernelShape) -> Self {
        Self {
            shape,
            ..self.clone()
        }
    }

    /// Whether the one-token `Lanes` kernel reads the weights of 4 consecutive rows per
    /// vector load (`quad1`; lavapipe issues storage loads lane by lane, so a vec4 costs
    /// about a third of four words), unless `with_quads(false)`.
    pub fn quads(&self) -> bool {
        self.quads
    }

    /// The same device with `quad1` allowed or not (tests run both).
    pub fn with_quads(&self, quads: bool) -> Self {
        Self {
            quads,
            ..self.clone()
        }
    }

    /// Why the device was lost (driver reset, `destroy`, the browser reclaiming it), or
    /// `None` while it works. A lost device never comes back: the model must be rebuilt on
    /// a new one.
    pub fn lost_reason(&self) -> Option<String> {
        self.inner.lost.lock().ok().and_then(|slot| slot.clone())
    }

    /// Destroys the device as a driver reset would (for tests of the recovery path): every
    /// later submission fails and the lost callback reports it.
    pub fn destroy(&self) {
        self.inner.device.destroy();
    }

    /// The adapter is a CPU implementation of the API (SwiftShader, llvmpipe, WARP): the
    /// CPU backend runs models faster than it does.
    pub fn is_software(&self) -> bool {
        software_adapter(&self.inner.info)
    }

    /// One line naming the adapter, for benchmarks and the engine's info: name, backend,
    /// device type and driver.
    pub fn describe(&self) -> String {
        let i = &self.inner.info;
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        )
    }

    /// The device's limits and the adapter's features, for diagnostics.
    pub fn describe_limits(&self) -> String {
        let l = &self.inner.limits;
        format!(
            "limits: max storage binding {} MiB, max buffer {} MiB, workgroup storage {} KiB, \
             {} invocations per workgroup, {} storage buffers per stage, {} bind groups\n\
             adapter features: {:?}",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_invocations_per_workgroup,
            l.max_storage_buffers_per_shader_stage,
            l.max_bind_groups,
            self.inner.features,
        )
    }

    /// A storage buffer holding `data`, readable by kernels (also as a uniform, as
    /// `storage`) and copyable out.
    pub fn storage_init(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::UNIFORM
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            })
    }

    /// A zeroed buffer of `size` bytes rounded up to 4 (what a copy or a binding needs).
    fn zeroed(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        })
    }

    /// A zeroed storage buffer of `size` bytes (rounded up to 4), whose start can also be
    /// bound as a uniform (`Slot::UniformPrefix`: a one-token step's input row).
    pub fn storage(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.zeroed(
            label,
            size,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
        )
    }

    /// A zeroed buffer for one shard of a weight matrix: bound as storage only, filled by
    /// `queue().write_buffer` while the file streams.
    pub fn weight_storage(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.zeroed(
            label,
            size,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        )
    }

    /// A uniform buffer holding `data`, rewritable with `queue().write_buffer`.
    pub fn uniform_init(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A buffer the CPU can map to read results back.
    pub fn staging(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.zeroed(
            label,
            size,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        )
    }

    /// Maps `staging` (already filled by submitted copies), returns its first `len` bytes,
    /// and unmaps it. Works natively (by polling the device until `submission`, the last
    /// one that wrote it, is done: not the ones queued after it) and on the web (by
    /// awaiting the browser's callback, which comes once the submissions that used the
    /// buffer are done).
    pub async fn read_staging(
        &self,
        staging: &wgpu::Buffer,
        len: u64,
        submission: wgpu::SubmissionIndex,
    ) -> Result<Vec<u8>> {
        #[cfg(target_arch = "wasm32")]
        let _ = submission;
        let len = len.max(4).next_multiple_of(4);
        let slice = staging.slice(..len);
        let (tx, rx) = futures_channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            // The receiver only disappears if the caller's future was dropped.
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|_| Error::Gpu("buffer mapping was cancelled".into()))?
            .map_err(|e| Error::Gpu(format!("mapping a readback buffer: {e}")))?;
        let bytes = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("reading a mapped buffer: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }

    /// Copies `len` bytes from `src` at `offset` into a fresh staging buffer and reads them.
    /// For tests and one-off reads; the model keeps its own staging buffers.
    pub async fn read_buffer(&self, src: &wgpu::Buffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        let len = len.max(4).next_multiple_of(4);
        let staging = self.staging("readback", len);
        let mut enc = self.device().create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, len);
        let submission = self.queue().submit([enc.finish()]);
        self.read_staging(&staging, len, submission).await
    }

    pub async fn read_f32(&self, src: &wgpu::Buffer, n: usize) -> Result<Vec<f32>> {
        let bytes = self.read_buffer(src, 0, (n * 4) as u64).await?;
        Ok(bytes
            .chunks_exact(4)
            .take(n)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    pub async fn read_u32(&self, src: &wgpu::Buffer, n: usize) -> Result<Vec<u32>> {
        let bytes = self.read_buffer(src, 0, (n * 4) as u64).await?;
        Ok(bytes
            .chunks_exact(4)
            .take(n)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Runs `f` inside a validation error scope; a validation error becomes `Error::Gpu`
    /// naming `what` (a kernel or tensor label).
    pub async fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self
            .device()
            .push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self
            .device()
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = validation.pop().await;
        let o = oom.pop().await;
        match (v, o) {
            (Some(e), _) => Err(Error::Gpu(format!("{what}: {e}"))),
            (None, Some(e)) => Err(Error::DoesNotFit(format!("{what}: {e}"))),
            (None, None) => Ok(out),
        }
    }
}

/// The device limits to request: WebGPU's defaults, raised to what the adapter offers for
/// buffer sizes and workgroup storage (so larger tensors need fewer shards), capped at
/// 1 GiB per binding (wasm32 cannot address more anyway).
fn requested_limits(offered: &wgpu::Limits) -> wgpu::Limits {
    let l = wgpu::Limits {
        max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size.min(1 << 30),
        max_buffer_size: offered.max_buffer_size.min(1 << 31),
        max_compute_workgroup_storage_size: offered.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: offered.max_compute_invocations_per_workgroup,
        max_compute_workgroup_size_x: offered.max_compute_workgroup_size_x,
        max_compute_workgroups_per_dimension: offered.max_compute_workgroups_per_dimension,
        max_storage_buffers_per_shader_stage: offered.max_storage_buffers_per_shader_stage,
        max_uniform_buffers_per_shader_stage: offered.max_uniform_buffers_per_shader_stage,
        ..wgpu::Limits::default()
    };
    // Never request more than the adapter has (a downlevel adapter may be below defaults).
    l.or_worse_values_from(offered)
}
