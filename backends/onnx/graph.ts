/**
 * A tiny ONNX graph builder: nodes, initializers, typed inputs and outputs, three attribute kinds.
 *
 * It writes ModelProto bytes with IR version 8 and the default-domain opset 17, which ONNX Runtime
 * 1.31 accepts (it takes IR 3-13 and opsets 7-26). Field numbers come from onnx.proto, which is a
 * proto2 file: repeated integers are written unpacked, one field per value, as proto2 does by
 * default (every protobuf parser also accepts the packed form, and the reader below takes both).
 *
 * Encoding is deterministic: the same graph with the same weights gives the same bytes, so a
 * model rebuilt from the weights read out of its own file is byte-identical to that file.
 */
import { assert } from "../../core/assert.ts"
import { decodeFields, decodePackedVarints, ProtoDecodeError, type ProtoField, ProtoWriter } from "./protobuf.ts"

export const irVersion = 8
export const opsetVersion = 17

/** A dimension: a fixed size, or a symbolic name (the batch, an image side) fixed at run time. */
export type Dim = number | string
export type ElementType = "float32" | "int64"
const elementTypeCodes: { readonly [T in ElementType]: number } = { float32: 1, int64: 7 }

/** A float32 weight with its shape; `data.length` is the product of `dims`. */
export interface FloatTensor {
  readonly dims: ReadonlyArray<number>
  readonly data: Float32Array
}

export type Attribute =
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "int"; readonly value: number }
  | { readonly kind: "ints"; readonly value: ReadonlyArray<number> }

export const floatAttribute = (value: number): Attribute => ({ kind: "float", value })
export const intAttribute = (value: number): Attribute => ({ kind: "int", value })
export const intsAttribute = (value: ReadonlyArray<number>): Attribute => ({ kind: "ints", value })

interface NodeSpec {
  readonly opType: string
  readonly inputs: ReadonlyArray<string>
  readonly outputs: ReadonlyArray<string>
  readonly attributes: Readonly<Record<string, Attribute>>
}
interface ValueSpec { readonly name: string; readonly type: ElementType; readonly dims: ReadonlyArray<Dim> }
type InitializerSpec =
  | { readonly name: string; readonly type: "float32"; readonly dims: ReadonlyArray<number>; readonly data: Float32Array }
  | { readonly name: string; readonly type: "int64"; readonly dims: ReadonlyArray<number>; readonly data: ReadonlyArray<number> }

/** Collects one graph, then encodes it as a model. Node order must be topological, as ONNX requires. */
export class GraphBuilder {
  private readonly nodes: Array<NodeSpec> = []
  private readonly initializers: Array<InitializerSpec> = []
  private readonly inputs: Array<ValueSpec> = []
  private readonly outputs: Array<ValueSpec> = []
  private readonly names = new Set<string>()

  constructor(private readonly name: string) {}

  input(name: string, type: ElementType, dims: ReadonlyArray<Dim>): string {
    this.claim(name)
    this.inputs.push({ name, type, dims })
    return name
  }

  output(name: string, type: ElementType, dims: ReadonlyArray<Dim>): void {
    assert(this.names.has(name), "a graph output names a value some node produces")
    this.outputs.push({ name, type, dims })
  }

  weight(name: string, tensor: FloatTensor): string {
    assert(tensor.data.length === tensor.dims.reduce((a, b) => a * b, 1), "a weight's data matches its dims")
    this.claim(name)
    this.initializers.push({ name, type: "float32", dims: tensor.dims, data: tensor.data })
    return name
  }

  /** An int64 constant (shapes, axes): small, so it travels as a plain array. */
  int64Constant(name: string, values: ReadonlyArray<number>): string {
    this.claim(name)
    this.initializers.push({ name, type: "int64", dims: [values.length], data: values })
    return name
  }

  /** Adds a node producing `output`; returns `output` so calls chain like expressions. */
  node(opType: string, inputs: ReadonlyArray<string>, output: string, attributes: Readonly<Record<string, Attribute>> = {}): string {
    // "" is ONNX's way to skip an optional input (Resize's roi, for example).
    for (const input of inputs) assert(input === "" || this.names.has(input), `node input '${input}' is defined before use`)
    this.claim(output)
    this.nodes.push({ opType, inputs, outputs: [output], attributes })
    return output
  }

  /** The ModelProto bytes. */
  encode(): Uint8Array {
    assert(this.outputs.length > 0, "a graph has at least one output")
    return new ProtoWriter()
      .varint(1, irVersion)
      .string(2, "rankwise")
      .message(7, (graph) => this.writeGraph(graph))
      .message(8, (opset) => opset.varint(2, opsetVersion))
      .finish()
  }

  private writeGraph(graph: ProtoWriter): void {
    for (const node of this.nodes) graph.message(1, (writer) => writeNode(writer, node))
    graph.string(2, this.name)
    for (const initializer of this.initializers) graph.message(5, (writer) => writeInitializer(writer, initializer))
    for (const input of this.inputs) graph.message(11, (writer) => writeValueInfo(writer, input))
    for (const output of this.outputs) graph.message(12, (writer) => writeValueInfo(writer, output))
  }

  private claim(name: string): void {
    assert(name.length > 0, "a value has a name")
    assert(!this.names.has(name), `value '${name}' is defined once`)
    this.names.add(name)
  }
}

const writeNode = (writer: ProtoWriter, node: NodeSpec): void => {
  for (const input of node.inputs) writer.string(1, input)
  for (const output of node.outputs) writer.string(2, output)
  writer.string(3, `${node.opType}:${node.outputs[0]}`)
  writer.string(4, node.opType)
  for (const [name, attribute] of Object.entries(node.attributes)) {
    writer.message(5, (inner) => writeAttribute(inner, name, attribute))
  }
}

// AttributeProto: name=1, f=2, i=3, ints=8, type=20 with FLOAT=1, INT=2, INTS=7.
const writeAttribute = (writer: ProtoWriter, name: string, attribute: Attribute): void => {
  writer.string(1, name)
  if (attribute.kind === "float") writer.float(2, attribute.value).varint(20, 1)
  else if (attribute.kind === "int") writer.varint(3, attribute.value).varint(20, 2)
  else {
    for (const value of attribute.value) writer.varint(8, value)
    writer.varint(20, 7)
  }
}

// TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian, whatever the host).
const writeInitializer = (writer: ProtoWriter, initializer: InitializerSpec): void => {
  for (const dim of initializer.dims) writer.varint(1, dim)
  writer.varint(2, elementTypeCodes[initializer.type])
  writer.string(8, initializer.name)
  writer.bytes(9, initializer.type === "float32" ? float32LittleEndian(initializer.data) : int64LittleEndian(initializer.data))
}

// ValueInfoProto{name=1, type=2} > TypeProto{tensor_type=1} > Tensor{elem_type=1, shape=2} > dim=1.
const writeValueInfo = (writer: ProtoWriter, value: ValueSpec): void => {
  writer.string(1, value.name)
  writer.message(2, (type) => type.message(1, (tensor) => {
    tensor.varint(1, elementTypeCodes[value.type])
    tensor.message(2, (shape) => {
      for (const dim of value.dims) {
        shape.message(1, (entry) => typeof dim === "number" ? entry.varint(1, dim) : entry.string(2, dim))
      }
    })
  }))
}

export const float32LittleEndian = (data: Float32Array): Uint8Array => {
  const view = new DataView(new ArrayBuffer(data.length * 4))
  for (let index = 0; index < data.length; index++) view.setFloat32(index * 4, data[index], true)
  return new Uint8Array(view.buffer)
}

const int64LittleEndian = (data: ReadonlyArray<number>): Uint8Array => {
  const view = new DataView(new ArrayBuffer(data.length * 8))
  for (let index = 0; index < data.length; index++) view.setBigInt64(index * 8, BigInt(data[index]), true)
  return new Uint8Array(view.buffer)
}

/**
 * The float32 initializers of a model file, by name. Throws `ProtoDecodeError` when the bytes
 * are not a model or an initializer is not float32 raw data of the size its dims promise.
 */
export const readFloatInitializers = (model: Uint8Array): ReadonlyMap<string, FloatTensor> => {
  const graph = decodeFields(model).find((field) => field.field === 7)
  if (graph === undefined || graph.kind !== "bytes") throw new ProtoDecodeError("the model has no graph")
  const tensors = new Map<string, FloatTensor>()
  for (const field of decodeFields(graph.value)) {
    if (field.field !== 5 || field.kind !== "bytes") continue
    const tensor = readTensor(decodeFields(field.value))
    if (tensor !== undefined) tensors.set(tensor.name, tensor.tensor)
  }
  return tensors
}

/** A float32 tensor, or undefined for int64 constants (which are part of the graph, not weights). */
const readTensor = (fields: ReadonlyArray<ProtoField>): { name: string; tensor: FloatTensor } | undefined => {
  const dims = fields.filter((field) => field.field === 1).flatMap(decodePackedVarints)
  const dataType = fields.find((field) => field.field === 2)
  const name = fields.find((field) => field.field === 8)
  const raw = fields.find((field) => field.field === 9)
  if (dataType?.kind !== "varint" || name?.kind !== "bytes") throw new ProtoDecodeError("a tensor lacks its type or name")
  if (dataType.value === 7n) return undefined
  if (dataType.value !== 1n || raw?.kind !== "bytes") throw new ProtoDecodeError("a weight is not float32 raw data")
  const count = dims.reduce((a, b) => a * b, 1)
  if (raw.value.length !== count * 4) throw new ProtoDecodeError("a weight's raw data does not match its dims")
  const view = new DataView(raw.value.buffer, raw.value.byteOffset, raw.value.byteLength)
  const data = new Float32Array(count)
  for (let index = 0; index < count; index++) data[index] = view.getFloat32(index * 4, true)
  return { name: new TextDecoder().decode(name.value), tensor: { dims, data } }
}
