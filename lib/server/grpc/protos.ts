// Triton's gRPC protocol (inference.GRPCInferenceService: the Open Inference Protocol's six methods and Triton's
// extensions), read from the .proto files vendored in the package's protos/ folder (protos/README.md says whence).
// They are parsed once per process, when the first gRPC server starts, not when vitorch/server is required.
import * as fs from 'fs';
import * as path from 'path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { Options, PackageDefinition } from '@grpc/proto-loader';

export const SERVICE_NAME = 'inference.GRPCInferenceService';

/** How messages look on the JavaScript side: field names as in the .proto (the same snake_case as the REST JSON,
 *  so modelConfig() and the statistics' toJson() fit their messages as they are), int64 as numbers (shapes, counts
 *  and nanoseconds stay below 2^53), enums by name, every repeated field and map present, and a oneof's case named
 *  (InferParameter's parameter_choice says which of its fields was sent). */
export const MESSAGE_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** The package's protos/ folder: three folders up from lib/server/grpc (ts-jest), four from dist/lib/server/grpc. */
export function protosFolder(): string {
  for (const up of ['../../..', '../../../..']) {
    const folder = path.join(__dirname, up, 'protos');
    if (fs.existsSync(path.join(folder, 'grpc_service.proto'))) return folder;
  }
  throw new Error(`the gRPC protocol files (protos/grpc_service.proto) are missing from the package near ${__dirname}`);
}

let loaded: PackageDefinition | null = null;

/** Every message and service of grpc_service.proto and model_config.proto (for a client, too). */
export function inferencePackage(): PackageDefinition {
  if (!loaded) {
    const folder = protosFolder();
    loaded = loadSync(path.join(folder, 'grpc_service.proto'), { ...MESSAGE_OPTIONS, includeDirs: [folder] });
  }
  return loaded;
}

export function inferenceService(): ServiceDefinition {
  return inferencePackage()[SERVICE_NAME] as ServiceDefinition;
}
