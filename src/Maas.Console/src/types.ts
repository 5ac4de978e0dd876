// The registry's JSON shapes, as docs/api.md describes them (only the fields the console reads).
export interface TensorSpec { name: string; datatype: string; shape: number[]; dim_names?: (string | null)[] }
export interface Signature { inputs?: TensorSpec[]; outputs?: TensorSpec[]; [key: string]: unknown }
export interface ModelFile { path: string; sha256: string; size_bytes: number }
/** A version's class labels by output name, as serving resolves them. */
export type OutputLabels = Record<string, string[]>;
export interface Version {
  model: string; version: number; status: string; format: string; sha256: string; size_bytes: number; file_name: string;
  files?: ModelFile[]; signature?: Signature; metadata?: Record<string, unknown>; derived_from?: unknown; aliases?: string[];
  output_labels?: OutputLabels;
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
  result?: Record<string, unknown> | null; cancel_requested?: boolean; finishing?: boolean; created_at?: string; updated_at?: string; [key: string]: unknown;
}
export interface DatasetColumn { name: string; type: string; shape?: number[] | null }
export interface ColumnStatistics {
  name: string; count: number; missing: number; distinct?: number | null; distinct_capped?: boolean | null;
  min?: number | null; max?: number | null; mean?: number | null; class_balance?: Record<string, number> | null;
}
export interface DatasetVersion {
  dataset: string; version: number; format: string; file_name: string; sha256: string; size_bytes: number; rows: number;
  schema: DatasetColumn[]; statistics?: ColumnStatistics[] | null; created_by?: string; created_at?: string;
}
export interface Dataset {
  name: string; owner?: string; visibility?: string; description?: string; latest_version?: number | null; created_at?: string; versions?: DatasetVersion[];
}
export interface TrainingJob {
  id: string; status: string; model?: string | null; dataset?: string | null; task?: string | null; trainer?: string | null; progress: number;
  stage?: string | null; epoch?: number | null; iteration?: number | null; metrics?: Record<string, number>; eta_seconds?: number | null; search_trials?: number | null;
  result?: { model?: string; version?: number; evaluation?: Record<string, unknown>; search?: Record<string, unknown> } | null;
  error?: { code: string; message: string } | null; attempts?: number; cancel_requested?: boolean; finishing?: boolean; created_at?: string; finished_at?: string | null;
}
/** An event of a worker-run job (GET .../events). */
export interface JobEvent { seq: number; at: string; type: string; data: Record<string, unknown> }
/** A confusion matrix: rows are the true class, columns the predicted one. */
export interface ConfusionMatrix { labels: string[]; matrix: number[][] }
export interface ClassMetrics { precision: number; recall: number; f1: number; support: number }
/**
 * The metrics of an evaluation (a version's training-time report, or an evaluation job's result): classification
 * (accuracy, macro_*, log_loss, auc, per_class, confusion_matrix) or regression (rmse, mae, r2), with the rows scored.
 */
export interface EvaluationMetrics {
  rows?: number; accuracy?: number; macro_precision?: number; macro_recall?: number; macro_f1?: number; log_loss?: number; auc?: number | null;
  rmse?: number; mae?: number; r2?: number; per_class?: Record<string, ClassMetrics>; confusion_matrix?: ConfusionMatrix;
  dataset?: { name: string; version: number; sha256?: string }; label?: string; [key: string]: unknown;
}
