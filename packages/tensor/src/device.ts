// The device: one GPUDevice, a pipeline cache, a buffer pool and a command recorder.
//
// Every op records its dispatch into the current command encoder (inside one long compute pass);
// nothing reaches the GPU queue until a read-back or an explicit flush(). That keeps a decode step
// to a single submit and no CPU round trip inside an op.

import { platformGpu, platformName, noAdapterHelp } from '#platform';
import { DeviceError, DisposedError, IndexError, OptionError, ShapeError } from './errors';
import { checkFlushEvery, flags } from './flags';
import { BufferPool } from './pool';
import { BufferUsage, MapMode, ShaderStage } from './constants';
import type { Kernel } from './kernel';
import { Profiler, type ProfileReport } from './profiler';
import { Tensor, type DType, dtypeBytes, type TypedArrayFor } from './tensor';

export interface DeviceOptions {
  /** Use shader-f16 when the adapter has it (default true). */
  f16?: boolean;
  powerPreference?: GPUPowerPreference;
  /** An adapter chosen by the caller; by default the platform's first adapter. */
  adapter?: GPUAdapter;
  /** Dispatches recorded before this device submits them on its own; default flags.flushEvery (8). */
  flushEvery?: number;
  /**
   * Node: worker threads of Mesa's llvmpipe software driver (lavapipe), as its LP_NUM_THREADS;
   * applied only when the environment does not set LP_NUM_THREADS and no device was created in
   * this process yet (the driver reads it once). 0 runs every dispatch on the driver's queue
   * thread: one-row decoding on a 2-core machine then runs 1.2–1.8× faster (no hand-off to the
   * thread pool per dispatch, and a core left for JS), while products of many rows run up to 2×
   * slower. Default: the driver's own (a thread a core). Other adapters ignore it.
   */
  softwareThreads?: number;
  /**
   * Use the subgroups feature when the adapter has it (default true): multi-row linear products
   * then load each row of x once per subgroup and broadcast it (see Device.subgroups).
   */
  subgroups?: boolean;
}

export interface DeviceStats {
  /** Compute dispatches recorded since creation. */
  dispatches: number;
  /** Queue submits since creation. */
  submits: number;
  /** Buffer read-backs since creation. */
  readbacks: number;
  /** Compute pipelines compiled. */
  pipelines: number;
  /** Bind groups created (a dispatch whose buffers were not bound together before). */
  bindGroups: number;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  platform: string;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** A whole buffer, or a 256-byte-aligned range of one (to reach past maxStorageBufferBindingSize). */
export type Binding = GPUBuffer | GPUBufferBinding;

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we target
const UNIFORM_SLAB = 256 * 1024; // at most 1024 dispatches per submit

export class Device {
  readonly gpu: GPUDevice;
  readonly adapter: AdapterDescription;
  /** True when f16 storage and arithmetic are available (shader-f16). */
  readonly hasF16: boolean;
  /**
   * True when WGSL has the packed 4×8-bit integer dot product (language feature
   * packed_4x8_integer_dot_product): quantized weights (Q8Matrix, Q4Matrix) need it.
   */
  readonly hasPacked4x8: boolean;
  /**
   * Subgroup sizes when the subgroups feature is enabled, else null. Kernels that share rows
   * through a subgroup need every subgroup to hold at least SHARE_LANES invocations.
   */
  readonly subgroups: { minSize: number; maxSize: number } | null;
  readonly limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
  /**
   * Dispatches recorded before the device submits them on its own (see flags.flushEvery, whose
   * value this is unless DeviceOptions.flushEvery or a set overrides it for this device; setting
   * undefined follows the flag again).
   */
  get flushEvery(): number {
    return this.flushOverride ?? flags.flushEvery;
  }
  set flushEvery(v: number | undefined) {
    this.flushOverride = v === undefined ? undefined : checkFlushEvery('Device.flushEvery', v);
  }
  private flushOverride: number | undefined = undefined;
  readonly stats: DeviceStats = { dispatches: 0, submits: 0, readbacks: 0, pipelines: 0, bindGroups: 0 };

  private readonly pool: BufferPool;
  private readonly pipelines = new Map<string, CachedPipeline>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformData = new ArrayBuffer(UNIFORM_SLAB);
  private uniformWords = new Uint32Array(this.uniformData);
  private uniformUsed = 0;
  private readonly uniformBuffer: GPUBuffer;
  /** Group 0 of every kernel: the params struct, one bind group per uniform slot (no dynamic offsets). */
  private readonly paramsLayout: GPUBindGroupLayout;
  private readonly paramGroups: GPUBindGroup[] = [];
  /** Buffers touched by commands not yet submitted: writing them from the CPU must flush first. */
  private readonly recorded = new Set<GPUBuffer>();
  /** One u32 of flags kernels set (atomicOr) when data-dependent indices are out of range. */
  private readonly errorWord: GPUBuffer;
  private readonly errorOps: string[] = [];
  private destroyed = false;
  private lost: string | null = null;
  /** The first WebGPU error reported since the last check (see the constructor). */
  private gpuError: string | null = null;

  /** True when the device can time kernels (timestamp-query): see startProfile(). */
  readonly hasTimestamps: boolean;
  private profiler: Profiler | null = null;

  private constructor(gpu: GPUDevice, adapter: AdapterDescription, hasF16: boolean, hasPacked4x8: boolean, subgroups: { minSize: number; maxSize: number } | null) {
    this.gpu = gpu;
    this.subgroups = subgroups;
    this.hasPacked4x8 = hasPacked4x8;
    this.hasTimestamps = gpu.features.has('timestamp-query');
    this.adapter = adapter;
    this.hasF16 = hasF16;
    const l = gpu.limits;
    this.limits = {
      maxStorageBufferBindingSize: Number(l.maxStorageBufferBindingSize),
      maxBufferSize: Number(l.maxBufferSize),
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    };
    this.pool = new BufferPool(gpu);
    this.uniformBuffer = gpu.createBuffer({
      label: 'hydra-uniforms',
      size: UNIFORM_SLAB,
      usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST,
    });
    this.paramsLayout = gpu.createBindGroupLayout({
      label: 'hydra-params',
      entries: [{ binding: 0, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform' } }],
    });
    this.errorWord = gpu.createBuffer({
      label: 'hydra-index-errors',
      size: 4,
      usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    });
    // A WebGPU error invalidates the command buffer it was recorded in: the work silently does not
    // run. Every call between two submits runs inside one validation error scope, so a submit
    // reports its first error, not the echoes that follow it; errors of other kinds come from the
    // uncaptured-error event. The first one is thrown at a read-back or sync once it has arrived
    // (never awaited: waiting on the scopes at every read-back made a stories260K AR step 12-27 %
    // slower in interleaved runs).
    gpu.pushErrorScope('validation');
    gpu.addEventListener('uncapturederror', (e) => this.noteGpuError((e as GPUUncapturedErrorEvent).error));
    void gpu.lost.then((info) => {
      if (!this.destroyed) this.lost = `${info.reason}: ${info.message}`;
    });
  }

  /** Opens the platform's WebGPU adapter (Dawn in Node, navigator.gpu in browsers). */
  static async create(options: DeviceOptions = {}): Promise<Device> {
    if (options.flushEvery !== undefined) checkFlushEvery('Device.create: flushEvery', options.flushEvery);
    const threads = options.softwareThreads;
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0 && threads <= 256)) {
      throw new OptionError(`Device.create: softwareThreads must be an integer in [0, 256], got ${threads}`);
    }
    let adapter = options.adapter ?? null;
    const platform = await platformGpu({ softwareThreads: threads }); // also asked for its WGSL language features below
    if (!adapter) {
      if (!platform) throw new DeviceError(`No WebGPU implementation on ${platformName}. ${noAdapterHelp}`);
      adapter = await platform.requestAdapter({ powerPreference: options.powerPreference });
      if (!adapter) throw new DeviceError(`No WebGPU adapter on ${platformName}. ${noAdapterHelp}`);
    }
    const wantF16 = options.f16 ?? true;
    const hasF16 = wantF16 && adapter.features.has('shader-f16');
    const info = (adapter as { info?: GPUAdapterInfo }).info;
    // Subgroup sizes are adapter info (absent on implementations that predate the feature).
    const minSize = Number(info?.subgroupMinSize ?? 0);
    const subgroups =
      (options.subgroups ?? true) && adapter.features.has('subgroups') && minSize > 0
        ? { minSize, maxSize: Number(info?.subgroupMaxSize ?? minSize) }
        : null;
    const a = adapter.limits;
    // Workgroups stay at 256 invocations and kernels at 8 storage buffers so the same kernels run on
    // SwiftShader (Chromium) and lavapipe alike; buffer sizes we take as large as the adapter allows.
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: Number(a.maxStorageBufferBindingSize),
      maxBufferSize: Number(a.maxBufferSize),
      maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: Math.min(256, a.maxComputeInvocationsPerWorkgroup),
      maxComputeWorkgroupSizeX: Math.min(256, a.maxComputeWorkgroupSizeX),
      maxComputeWorkgroupSizeY: Math.min(256, a.maxComputeWorkgroupSizeY),
      maxStorageBuffersPerShaderStage: Math.min(8, a.maxStorageBuffersPerShaderStage),
    };
    let gpu: GPUDevice;
    try {
      gpu = await adapter.requestDevice({
        requiredFeatures: [
          ...(hasF16 ? (['shader-f16'] as const) : []),
          ...(subgroups ? (['subgroups'] as const) : []),
          ...(adapter.features.has('timestamp-query') ? (['timestamp-query'] as const) : []),
        ],
        requiredLimits,
      });
    } catch (e) {
      throw new DeviceError(`requestDevice failed on ${platformName}: ${(e as Error).message}`, { cause: e });
    }
    const desc: AdapterDescription = {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      platform: platformName,
    };
    const languageFeatures = (platform as { wgslLanguageFeatures?: ReadonlySet<string> } | undefined)?.wgslLanguageFeatures;
    const device = new Device(gpu, desc, hasF16, languageFeatures?.has('packed_4x8_integer_dot_product') === true, subgroups);
    if (options.flushEvery !== undefined) device.flushEvery = options.flushEvery;
    return device;
  }

  /** A one-line name of the adapter, e.g. "mesa llvmpipe (node (Dawn))". */
  get name(): string {
    const a = this.adapter;
    const parts = [a.vendor, a.architecture || a.device, a.description].filter((s) => s.length > 0);
    return `${parts.join(' ') || 'unknown adapter'} (${a.platform})`;
  }

  // ---------------------------------------------------------------- memory

  /** Bytes of GPU buffers owned by live tensors. */
  get liveBytes(): number {
    return this.pool.liveBytes;
  }
  /** Highest liveBytes seen since creation or the last resetPeak(). */
  get peakBytes(): number {
    return this.pool.peakBytes;
  }
  /** Bytes held in the pool for reuse (not owned by any tensor). */
  get pooledBytes(): number {
    return this.pool.pooledBytes;
  }
  resetPeak(): void {
    this.pool.resetPeak();
  }
  /** Frees pooled buffers that no tensor owns. */
  trimPool(): void {
    this.flush();
    for (const b of this.pool.trim()) this.forgetBuffer(b);
  }

  /** @internal */
  acquireBuffer(bytes: number, upload = false): GPUBuffer {
    this.checkAlive();
    if (bytes > this.limits.maxBufferSize) {
      throw new OptionError(
        `buffer of ${bytes} bytes exceeds this adapter's maxBufferSize (${this.limits.maxBufferSize})`,
      );
    }
    // A buffer written from the CPU right away must not be one that recorded commands still read
    // (the write would have to submit them first).
    return this.pool.acquire(bytes, upload ? (b) => !this.recorded.has(b) : undefined);
  }

  /**
   * @internal Returned buffers are reused at once, by later commands (which the queue orders after
   * the ones recorded) or by uploads that avoid recorded buffers (see acquireBuffer). Reusing them
   * in the same order step after step keeps the bind-group cache warm.
   */
  releaseBuffer(buffer: GPUBuffer): void {
    if (this.destroyed) return;
    this.pool.release(buffer);
  }

  private forgetBuffer(b: GPUBuffer): void {
    for (const [k] of this.bindGroups) if (k.includes(`|${bufferId(b)}|`)) this.bindGroups.delete(k);
  }

  // ---------------------------------------------------------------- tensors

  /** A tensor with undefined contents. */
  empty<D extends DType>(shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    return Tensor.allocate(this, shape, dtype);
  }

  /** A tensor holding `data` (copied). */
  tensor<D extends DType = 'f32'>(
    data: ArrayLike<number>,
    shape: readonly number[],
    dtype: D = 'f32' as D,
  ): Tensor<D> {
    const t = Tensor.allocate(this, shape, dtype, true);
    t.write(data);
    return t;
  }

  zeros<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    const t = Tensor.allocate(this, shape, dtype);
    const size = t.size * dtypeBytes(dtype);
    this.endPass();
    this.getEncoder().clearBuffer(t.buffer, 0, Math.ceil(size / 4) * 4);
    this.recorded.add(t.buffer);
    return t;
  }

  /** @internal Writes bytes into a buffer, flushing first if recorded commands still use it. */
  writeBuffer(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.checkAlive();
    if (this.recorded.has(buffer)) this.flush();
    this.gpu.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** @internal Copies bytes between buffers inside the recorded command stream. */
  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive();
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.recorded.add(src);
    this.recorded.add(dst);
  }

  /** @internal Reads a buffer back; submits everything recorded so far. */
  async readBuffer<D extends DType>(buffer: GPUBuffer, bytes: number, dtype: D): Promise<TypedArrayFor<D>> {
    this.checkAlive();
    const padded = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquireStaging(padded + 4);
    this.endPass();
    this.getEncoder().copyBufferToBuffer(buffer, 0, staging, 0, padded);
    this.getEncoder().copyBufferToBuffer(this.errorWord, 0, staging, padded, 4);
    this.flush();
    this.stats.readbacks++;
    try {
      await staging.mapAsync(MapMode.READ, 0, padded + 4);
    } catch (e) {
      this.pool.releaseStaging(staging);
      this.checkAlive();
      throw new DeviceError(`read-back failed: ${(e as Error).message}`, { cause: e });
    }
    const mapped = staging.getMappedRange(0, padded + 4);
    const copy = mapped.slice(0, bytes);
    const flags = new Uint32Array(mapped, padded, 1)[0];
    staging.unmap();
    this.pool.releaseStaging(staging);
    if (flags !== 0) this.gpu.queue.writeBuffer(this.errorWord, 0, new Uint32Array(1));
    this.throwGpuError();
    if (flags !== 0) {
      const ops = this.errorOps.filter((_, i) => flags & (1 << i));
      throw new IndexError(`index out of range in ${ops.join(', ')} (an id or row index exceeded its table; see the op's documentation)`);
    }
    return makeTyped(dtype, copy) as TypedArrayFor<D>;
  }

  // ---------------------------------------------------------------- execution

  /**
   * @internal The flag word kernels bind (as `atomic<u32>`) to report out-of-range indices, and the
   * bit for `op`. The next read-back throws an IndexError naming every op that set its bit.
   */
  indexErrorFlag(op: string): { buffer: GPUBuffer; bit: number } {
    let bit = this.errorOps.indexOf(op);
    if (bit < 0) {
      if (this.errorOps.length >= 32) throw new OptionError('more than 32 ops report index errors');
      bit = this.errorOps.push(op) - 1;
    }
    return { buffer: this.errorWord, bit };
  }

  /**
   * Records one dispatch of `kernel`. `buffers` follow the kernel's binding order; `uniforms` is
   * the packed params struct (group 0, binding 0; the buffers are group 1). No CPU round trip happens here.
   */
  dispatch(kernel: Kernel, buffers: readonly Binding[], uniforms: ArrayBuffer, grid: readonly [number, number?, number?]): void {
    this.checkAlive();
    if (buffers.length !== kernel.bindings.length) {
      throw new OptionError(`kernel ${kernel.key}: ${buffers.length} buffers bound, expected ${kernel.bindings.length}`);
    }
    if (uniforms.byteLength > UNIFORM_SLOT) {
      throw new OptionError(`kernel ${kernel.key}: params of ${uniforms.byteLength} bytes exceed ${UNIFORM_SLOT}`);
    }
    const [gx, gy = 1, gz = 1] = grid;
    if (gx === 0 || gy === 0 || gz === 0) return;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (gx > maxWg || gy > maxWg || gz > maxWg) {
      throw new OptionError(`kernel ${kernel.key}: grid ${gx}x${gy}x${gz} exceeds ${maxWg} workgroups per dimension`);
    }
    const full = this.uniformUsed + UNIFORM_SLOT > UNIFORM_SLAB || this.profiler?.full === true;
    if (full || this.uniformUsed >= this.flushEvery * UNIFORM_SLOT) this.flush();
    const offset = this.uniformUsed;
    this.uniformWords.set(new Uint32Array(uniforms), offset / 4);
    this.uniformUsed += UNIFORM_SLOT;

    const { pipeline, layout } = this.pipeline(kernel);
    const bindGroup = this.bindGroup(kernel, layout, buffers);
    const pass = this.profiler ? this.profiledPass(kernel.key) : this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.paramGroup(offset / UNIFORM_SLOT));
    pass.setBindGroup(1, bindGroup);
    pass.dispatchWorkgroups(gx, gy, gz);
    if (this.profiler) this.endPass();
    for (const b of buffers) this.recorded.add(isRange(b) ? b.buffer : b);
    this.stats.dispatches++;
  }

  /** Submits everything recorded so far. Cheap when nothing is recorded. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.uniformUsed > 0) {
      this.gpu.queue.writeBuffer(this.uniformBuffer, 0, this.uniformData, 0, this.uniformUsed);
    }
    this.profiler?.beforeSubmit(this.encoder);
    this.gpu.queue.submit([this.encoder.finish()]);
    this.gpu.popErrorScope().then((e) => this.noteGpuError(e), () => {});
    this.gpu.pushErrorScope('validation');
    this.stats.submits++;
    this.encoder = null;
    this.uniformUsed = 0;
    this.recorded.clear();
  }

  /**
   * Starts timing every dispatch on the GPU (timestamp queries; needs hasTimestamps). Each dispatch
   * then runs in a pass of its own, so profiled runs are slower than plain ones.
   */
  startProfile(): void {
    this.checkAlive();
    if (!this.hasTimestamps) throw new OptionError(`startProfile: the adapter ${this.name} has no timestamp-query feature`);
    if (this.profiler) throw new OptionError('startProfile: a profile is already running');
    this.flush();
    this.profiler = new Profiler(this.gpu);
  }

  /** Ends the profile started by startProfile() and returns GPU time per kernel. */
  async stopProfile(): Promise<ProfileReport> {
    const profiler = this.profiler;
    if (!profiler) throw new OptionError('stopProfile: no profile is running (call startProfile first)');
    this.flush();
    this.profiler = null;
    try {
      return await profiler.report();
    } finally {
      profiler.destroy();
    }
  }

  /** Resolves when every submitted command has finished on the GPU. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpu.queue.onSubmittedWorkDone();
    this.throwGpuError();
  }

  private noteGpuError(e: GPUError | null): void {
    if (e) this.gpuError ??= e.message;
  }

  /** Throws (once) the first WebGPU error reported since the last check, if any. */
  private throwGpuError(): void {
    const message = this.gpuError;
    if (message === null) return;
    this.gpuError = null;
    throw new DeviceError(`WebGPU error in recorded work, whose results are therefore invalid: ${message}`);
  }

  /** Releases the device. Tensors created on it must not be used afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.flush();
    this.destroyed = true;
    this.profiler?.destroy();
    this.pool.destroy();
    this.uniformBuffer.destroy();
    this.errorWord.destroy();
    this.gpu.destroy();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  private checkAlive(): void {
    if (this.destroyed) throw new DisposedError('device was destroyed');
    if (this.lost) throw new DeviceError(`GPU device lost (${this.lost})`);
  }

  private getEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.gpu.createCommandEncoder();
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.getEncoder().beginComputePass();
    return this.pass;
  }

  private profiledPass(key: string): GPUComputePassEncoder {
    this.endPass();
    this.pass = this.getEncoder().beginComputePass({ timestampWrites: this.profiler!.nextPass(key) });
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private pipeline(kernel: Kernel): CachedPipeline {
    const hit = this.pipelines.get(kernel.key);
    if (hit) return hit;
    const layout = this.gpu.createBindGroupLayout({
      label: kernel.key,
      entries: kernel.bindings.map((access, i) => ({
        binding: i + 1,
        visibility: ShaderStage.COMPUTE,
        buffer: { type: access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
      })),
    });
    const module = this.gpu.createShaderModule({ label: kernel.key, code: kernel.source });
    const pipeline = this.gpu.createComputePipeline({
      label: kernel.key,
      layout: this.gpu.createPipelineLayout({ bindGroupLayouts: [this.paramsLayout, layout] }),
      compute: { module, entryPoint: 'main' },
    });
    const entry = { pipeline, layout };
    this.pipelines.set(kernel.key, entry);
    this.stats.pipelines++;
    return entry;
  }

  /**
   * The params bind group of uniform slot `slot`. Static offsets, one group per slot: on lavapipe a
   * dynamic offset made every dispatch cost ~100 µs instead of ~30 µs.
   */
  private paramGroup(slot: number): GPUBindGroup {
    let group = this.paramGroups[slot];
    if (!group) {
      group = this.gpu.createBindGroup({
        label: `hydra-params-${slot}`,
        layout: this.paramsLayout,
        entries: [{ binding: 0, resource: { buffer: this.uniformBuffer, offset: slot * UNIFORM_SLOT, size: UNIFORM_SLOT } }],
      });
      this.paramGroups[slot] = group;
    }
    return group;
  }

  private bindGroup(kernel: Kernel, layout: GPUBindGroupLayout, buffers: readonly Binding[]): GPUBindGroup {
    let key = kernel.key + '|';
    for (const b of buffers) key += isRange(b) ? `${bufferId(b.buffer)}|${b.offset ?? 0}:${b.size ?? ''}|` : bufferId(b) + '|';
    const hit = this.bindGroups.get(key);
    if (hit) return hit;
    const limit = this.limits.maxStorageBufferBindingSize;
    buffers.forEach((b, i) => {
      const bytes = isRange(b) ? (b.size ?? b.buffer.size - (b.offset ?? 0)) : b.size;
      if (bytes > limit) {
        throw new ShapeError(`kernel ${kernel.key}: binding ${i + 1} spans ${bytes} bytes, more than maxStorageBufferBindingSize (${limit}); the op must bind it in slices`);
      }
    });
    const group = this.gpu.createBindGroup({
      layout,
      entries: buffers.map((b, i) => ({ binding: i + 1, resource: isRange(b) ? b : { buffer: b } })),
    });
    this.stats.bindGroups++;
    if (this.bindGroups.size > 4096) this.bindGroups.clear();
    this.bindGroups.set(key, group);
    return group;
  }
}

function isRange(b: Binding): b is GPUBufferBinding {
  return (b as GPUBufferBinding).buffer !== undefined;
}

const ids = new WeakMap<GPUBuffer, number>();
let nextId = 1;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) {
    id = nextId++;
    ids.set(b, id);
  }
  return id;
}

function makeTyped(dtype: DType, bytes: ArrayBuffer): Float32Array | Int32Array | Uint32Array | Uint16Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(bytes);
    case 'i32':
      return new Int32Array(bytes);
    case 'u32':
      return new Uint32Array(bytes);
    case 'f16':
      return new Uint16Array(bytes);
  }
}

let shared: Promise<Device> | null = null;
/** A process-wide device, created on first use (tests, CLI). */
export function getDevice(options?: DeviceOptions): Promise<Device> {
  if (!shared) {
    shared = Device.create(options);
    shared.catch(() => (shared = null));
  }
  return shared;
}
