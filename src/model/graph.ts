// A model package against its ONNX graph and against what its task needs.
// verifyModelPackage (package.ts) proves a package is the one that was signed;
// these checks prove the signed manifest tells the truth about the model, so
// that a contradiction is a coded error when the package is verified or
// loaded, never a failure (or a silent misreading) on every frame:
//
// - checkContract(manifest): the manifest against itself and its task, no
//   engine needed. The input is what preprocessing writes (shape from its
//   output size, layout and channels; dtype); outputs are float32 (the runtime
//   reads float32); view_quality has `view` [1, K] (K = postprocessing.view
//   labels) and `quality` (one value), optionally `guidance` [1, G] and
//   `id_score` (one value); lv_segmentation has one output, NCHW [1, C, H, W]
//   with C = its labels (which include "lv") and H x W the input's.
// - checkGraph(manifest, variant, io): the manifest against the inputs and
//   outputs an ONNX Runtime session reports for one variant: the same names,
//   dtypes, ranks and static dimensions (a dynamic dimension matches any size).
// - verifyPackageGraphs(pkg): both, for every variant, each opened with a
//   real session on the CPU without warm-up (metadata only).
import { Engine } from '../engine/index.js';
import { ModelPackageError, type ModelManifest, type VerifiedPackage } from './package.js';

/** One tensor of a graph as an engine session reports it (Engine.inputs / Engine.outputs). */
export interface GraphTensor {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

export interface GraphIO {
  readonly inputs: readonly GraphTensor[];
  readonly outputs: readonly GraphTensor[];
}

type Shape = readonly (number | string)[];
interface Declared { shape: Shape; dtype: string }

const fmt = (shape: Shape): string => `[${shape.join(', ')}]`;
/** Same rank, and equal wherever both dimensions are static. */
const compatible = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((d, i) => typeof d === 'string' || typeof b[i] === 'string' || d === b[i]);
const numel = (s: Shape): number | undefined => (s.every((d) => typeof d === 'number') ? (s as number[]).reduce((x, d) => x * d, 1) : undefined);

function contractError(where: string, message: string): never {
  throw new ModelPackageError('E_PACKAGE_CONTRACT', where, message);
}

const labelsOf = (m: ModelManifest, output: string): unknown => m.postprocessing[output]?.labels;

/** The manifest against itself and its task's output contract. Throws ModelPackageError E_PACKAGE_CONTRACT. */
export function checkContract(m: ModelManifest): void {
  const inName = m.preprocessing.input;
  const input = m.inputs[inName] as unknown as Declared | undefined;
  if (input === undefined) {
    contractError('/preprocessing/input', `Expected preprocessing.input to name one of the inputs (${Object.keys(m.inputs).join(', ')}) but received ${JSON.stringify(inName)}`);
  }
  if (Object.keys(m.inputs).length !== 1) {
    contractError('/inputs', `Expected one input, the one preprocessing writes (${inName}), but received ${Object.keys(m.inputs).join(', ')}`);
  }
  const out = m.preprocessing.options.output as { width: number; height: number; channels?: number; dtype?: string; layout?: string };
  const layout = out.layout ?? 'NCHW';
  const channels = out.channels ?? 1;
  const written = layout === 'NHWC' ? [1, out.height, out.width, channels] : [1, channels, out.height, out.width];
  if (!compatible(input.shape, written)) {
    contractError(`/inputs/${inName}/shape`, `Expected inputs.${inName}.shape to be what preprocessing writes, ${fmt(written)} (${layout}, ${channels} channel${channels === 1 ? '' : 's'}, ${out.width}x${out.height}), but received ${fmt(input.shape)}`);
  }
  if (input.dtype !== (out.dtype ?? 'float32')) {
    contractError(`/inputs/${inName}/dtype`, `Expected inputs.${inName}.dtype to be what preprocessing writes, ${out.dtype ?? 'float32'}, but received ${input.dtype}`);
  }
  const outputs = m.outputs as unknown as Record<string, Declared>;
  for (const [name, o] of Object.entries(outputs)) {
    if (o.dtype !== 'float32') contractError(`/outputs/${name}/dtype`, `Expected outputs.${name}.dtype to be float32 (the runtime reads float32 outputs) but received ${o.dtype}`);
  }
  const classes = (name: string): void => {
    const labels = labelsOf(m, name);
    if (!Array.isArray(labels) || labels.length === 0) {
      contractError(`/postprocessing/${name}/labels`, `Expected postprocessing.${name}.labels (one per class of outputs.${name}) but received ${JSON.stringify(labels)}`);
    }
    const want = [1, labels.length];
    if (!compatible(outputs[name].shape, want)) {
      contractError(`/outputs/${name}/shape`, `Expected outputs.${name}.shape to be ${fmt(want)} (one score per label of postprocessing.${name}.labels) but received ${fmt(outputs[name].shape)}`);
    }
  };
  const scalar = (name: string): void => {
    if (numel(outputs[name].shape) !== 1) {
      contractError(`/outputs/${name}/shape`, `Expected outputs.${name}.shape to hold one value ([1] or [1, 1]) but received ${fmt(outputs[name].shape)}`);
    }
  };
  if (m.task === 'view_quality') {
    for (const name of ['view', 'quality']) {
      if (outputs[name] === undefined) {
        contractError(`/outputs/${name}`, `Expected a view_quality package to have the outputs view and quality (and optionally guidance, id_score) but received ${Object.keys(outputs).join(', ')}`);
      }
    }
    classes('view');
    scalar('quality');
    if (outputs.guidance !== undefined) classes('guidance');
    if (outputs.id_score !== undefined) scalar('id_score');
  } else if (m.task === 'lv_segmentation') {
    const names = Object.keys(outputs);
    if (names.length !== 1) {
      contractError('/outputs', `Expected an lv_segmentation package to have one output (class scores, NCHW) but received ${names.join(', ')}`);
    }
    const name = names[0];
    const labels = labelsOf(m, name);
    if (!Array.isArray(labels) || !labels.includes('lv')) {
      contractError(`/postprocessing/${name}/labels`, `Expected postprocessing.${name}.labels to include "lv" but received ${JSON.stringify(labels)}`);
    }
    const want = [1, labels.length, out.height, out.width];
    if (!compatible(outputs[name].shape, want)) {
      contractError(`/outputs/${name}/shape`, `Expected outputs.${name}.shape to be NCHW ${fmt(want)} (${labels.length} labels, the input's ${out.width}x${out.height}) but received ${fmt(outputs[name].shape)}`);
    }
  }
}

/**
 * The manifest against one variant's graph: the same input and output names, and for each the dtype, the rank
 * and every static dimension. Throws ModelPackageError E_PACKAGE_GRAPH.
 */
export function checkGraph(m: ModelManifest, variant: string, io: GraphIO): void {
  const of = `variant ${variant} (${m.variants[variant]?.file ?? '?'})`;
  for (const kind of ['inputs', 'outputs'] as const) {
    const declared = m[kind] as unknown as Record<string, Declared>;
    const want = Object.keys(declared).sort();
    const got = io[kind].map((x) => x.name).sort();
    if (want.length !== got.length || want.some((n, i) => n !== got[i])) {
      throw new ModelPackageError('E_PACKAGE_GRAPH', `/${kind}`,
        `Expected the ${kind} manifest.json declares (${want.join(', ')}) in the ONNX graph of ${of} but received ${got.join(', ')}`);
    }
    for (const tensor of io[kind]) {
      const d = declared[tensor.name];
      if (d.dtype !== tensor.type) {
        throw new ModelPackageError('E_PACKAGE_GRAPH', `/${kind}/${tensor.name}/dtype`,
          `Expected ${kind}.${tensor.name} of ${of} to be ${d.dtype} as manifest.json declares but received ${tensor.type} from the ONNX graph`);
      }
      if (!compatible(d.shape, tensor.shape)) {
        throw new ModelPackageError('E_PACKAGE_GRAPH', `/${kind}/${tensor.name}/shape`,
          `Expected ${kind}.${tensor.name} of ${of} to have shape ${fmt(d.shape)} as manifest.json declares but received ${fmt(tensor.shape)} from the ONNX graph`);
      }
    }
  }
}

/**
 * checkContract, then checkGraph for each of `variants` (default all), each read from a real ONNX Runtime session
 * on the CPU, without warm-up. Throws the first ModelPackageError (E_PACKAGE_CONTRACT or E_PACKAGE_GRAPH).
 */
export async function verifyPackageGraphs(pkg: VerifiedPackage, variants: readonly string[] = Object.keys(pkg.manifest.variants)): Promise<void> {
  checkContract(pkg.manifest);
  for (const variant of variants) {
    const engine = await Engine.load({ package: pkg, variant }, { log: false, warmupRuns: 0, providers: ['cpu'] });
    try {
      checkGraph(pkg.manifest, variant, engine);
    } finally {
      await engine.close();
    }
  }
}
