// The registry's JSON shapes, as docs/api.md describes them (only the fields the console reads).
export interface TensorSpec { name: string; datatype: string; shape: number[]; dim_names?: (string | null)[] }
export interface Signature { inputs?: TensorSpec[]; outputs?: TensorSpec[]; [key: string]: unknown }
export interface ModelFile { path: string; sha256: string; size_bytes: number }
export interface Version {
  model: string; version: number; status: string; format: string; sha256: string; size_bytes: number; file_name: string;
  files?: ModelFile[]; signature?: Signature; metadata?: Record<string, unknown>; derived_from?: unknown; aliases?: string[];
  created_by?: string; created_at?: string; [key: string]: unknown;
}
export interface Alias { name: string; version: number; revision?: number; updated_at?: string; updated_by?: string }
export interface Model {
  name: string; description?: string; tags?: string[]; task?: string | null; visibility?: string; owner?: string; qualified_name?: string;
  latest_version?: number | null; created_at?: string; updated_at?: string; serving_config?: Record<string, unknown>;
  versions?: Version[]; aliases?: Alias[] | Record<string, number>;
}
export interface Job {
  id: string; kind: string; status: string; model?: string | null; version?: number | null; progress?: number | null;
  bytes_done?: number; bytes_total?: number | null; stage?: string | null; error?: { code: string; message: string } | null;
  result?: Record<string, unknown> | null; created_at?: string; updated_at?: string; [key: string]: unknown;
}
