// The messages of grpc_service.proto that vitorch reads, as @grpc/proto-loader hands them over with MESSAGE_OPTIONS
// (protos.ts): .proto field names, int64 as numbers, maps as objects, bytes as Buffers, repeated fields always
// present, a scalar left at its default absent. Only the fields vitorch reads are declared; answers are plain
// objects whose keys are the .proto's field names.

/** InferParameter: one of its fields, named by parameter_choice. */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
}

export type Parameters = Record<string, InferParameter>;

export interface InferTensorContents {
  fp32_contents?: number[];
  // The other typed fields (bool_contents, int_contents, ...) only matter to say that FP32 data is not in them.
  [field: string]: unknown[] | undefined;
}

export interface InferInputTensor {
  name?: string;
  datatype?: string;
  shape: number[];
  parameters: Parameters;
  contents?: InferTensorContents;
}

export interface InferRequestedOutputTensor {
  name?: string;
  parameters: Parameters;
}

export interface ModelInferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters: Parameters;
  inputs: InferInputTensor[];
  outputs: InferRequestedOutputTensor[];
  raw_input_contents: Buffer[];
}

/** ModelReadyRequest, ModelMetadataRequest, ModelConfigRequest and ModelStatisticsRequest. */
export interface ModelRequest {
  name?: string;
  version?: string;
}

export interface RepositoryIndexRequest {
  repository_name?: string;
  ready?: boolean;
}

/** RepositoryModelLoadRequest and RepositoryModelUnloadRequest (their parameters' values are not read). */
export interface RepositoryModelRequest {
  repository_name?: string;
  model_name?: string;
  parameters: Record<string, unknown>;
}

/** An InferParameter's value as the REST JSON would carry it, so that both protocols share one check of it. */
export function parameterValue(parameter: InferParameter): unknown {
  const field = parameter.parameter_choice;
  return field === undefined ? undefined : parameter[field];
}
