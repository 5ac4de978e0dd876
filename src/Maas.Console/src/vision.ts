// Images to input tensors (resize + normalise per a preset) and detections or classes back onto the picture.
import { metadataJson } from './api';

/** How a picture becomes a tensor: channel order, size and per-channel (x - mean) / std on 0..255 values. */
export interface ImagePreset { id: string; label: string; width: number; height: number; mean: [number, number, number]; std: [number, number, number]; bgr?: boolean }

export const presets: ImagePreset[] = [
  { id: 'ultraface', label: 'UltraFace: RGB, (x-127)/128, 320x240', width: 320, height: 240, mean: [127, 127, 127], std: [128, 128, 128] },
  { id: 'imagenet', label: 'ImageNet: RGB, mean/std normalised, 224x224', width: 224, height: 224, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
  { id: 'unit', label: 'Plain: RGB scaled to 0..1, the model\'s size', width: 224, height: 224, mean: [0, 0, 0], std: [255, 255, 255] },
];

/** Layout of an image input: NCHW or NHWC, grey (1 channel) or RGB (3), with its size (0 where the model leaves it open). */
export interface ImageLayout { channelsFirst: boolean; width: number; height: number; channels: 1 | 3 }

/** The image layout of an input shape ([1,C,H,W] or [1,H,W,C] with C 3 or 1, batch may be -1), or null when it is not an image. */
export function imageLayout(shape: number[]): ImageLayout | null {
  if (shape.length !== 4) return null;
  const dim = (d: number): number => (d > 0 ? d : 0);
  if (shape[1] === 3 || shape[1] === 1) return { channelsFirst: true, height: dim(shape[2]!), width: dim(shape[3]!), channels: shape[1] };
  if (shape[3] === 3 || shape[3] === 1) return { channelsFirst: false, height: dim(shape[1]!), width: dim(shape[2]!), channels: shape[3] };
  return null;
}

/** How a classifier MaaS trained is called (version metadata "maas.image"): its input, outputs and class names. */
export interface ImageModelInfo { input: string; shape: number[]; logits_output: string; probabilities_output: string; classes: string[] }

/** The "maas.image" metadata of a version (stored as JSON text), or null. */
export function imageModelInfo(metadata: Record<string, unknown> | undefined): ImageModelInfo | null {
  return metadataJson<ImageModelInfo>(metadata, 'maas.image', (info) => Array.isArray(info.classes));
}

/** Pixels scaled to 0..1, as MaaS's image training feeds its networks. */
export const unitPreset: ImagePreset = { id: 'maas-image', label: 'As trained by MaaS: pixels scaled to 0..1', width: 0, height: 0, mean: [0, 0, 0], std: [255, 255, 255] };

/** A preset from a model version's metadata (image_mean, image_std, image_size "WxH", channel_order) when it has them. */
export function presetFromMetadata(metadata: Record<string, unknown> | undefined): ImagePreset | null {
  if (!metadata) return null;
  const triple = (v: unknown): [number, number, number] | null => {
    const parts = String(v ?? '').split(/[ ,\[\]]+/).filter(Boolean).map(Number);
    return parts.length === 3 && parts.every(Number.isFinite) ? [parts[0]!, parts[1]!, parts[2]!] : null;
  };
  const mean = triple(metadata['image_mean']);
  const std = triple(metadata['image_std']);
  if (!mean || !std) return null;
  const [w, hgt] = String(metadata['image_size'] ?? '').split('x').map(Number);
  return { id: 'metadata', label: 'From the model\'s metadata', width: w || 224, height: hgt || 224, mean, std, bgr: String(metadata['channel_order'] ?? '').toLowerCase() === 'bgr' };
}

/** Resizes the picture to the layout's size (or the preset's where open) and normalises it into a float tensor. */
export function toTensor(image: CanvasImageSource & { width: number; height: number }, layout: ImageLayout, preset: ImagePreset): { data: Float32Array; shape: number[] } {
  const width = layout.width || preset.width || 224;
  const height = layout.height || preset.height || 224;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(image, 0, 0, width, height);
  const pixels = ctx.getImageData(0, 0, width, height).data;
  const channels = layout.channels;
  const data = new Float32Array(channels * width * height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    if (channels === 1) {
      // Grey: the mean of red, green and blue, normalised as the first channel.
      const grey = (pixels[i * 4]! + pixels[i * 4 + 1]! + pixels[i * 4 + 2]!) / 3;
      data[i] = (grey - preset.mean[0]!) / preset.std[0]!;
      continue;
    }
    for (let c = 0; c < 3; c++) {
      const source = preset.bgr ? 2 - c : c;
      const v = (pixels[i * 4 + source]! - preset.mean[c]!) / preset.std[c]!;
      data[layout.channelsFirst ? c * plane + i : i * 3 + c] = v;
    }
  }
  return { data, shape: layout.channelsFirst ? [1, channels, height, width] : [1, height, width, channels] };
}

export interface Box { x1: number; y1: number; x2: number; y2: number; score: number }

/** Face/object boxes from UltraFace-style outputs: scores [1,N,2] (background, object) and boxes [1,N,4] normalised corners. */
export function detections(scores: number[], boxes: number[], threshold = 0.7, iou = 0.3): Box[] {
  const found: Box[] = [];
  const n = Math.min(scores.length / 2, boxes.length / 4);
  for (let i = 0; i < n; i++) {
    const score = scores[i * 2 + 1]!;
    if (score > threshold) found.push({ x1: boxes[i * 4]!, y1: boxes[i * 4 + 1]!, x2: boxes[i * 4 + 2]!, y2: boxes[i * 4 + 3]!, score });
  }
  found.sort((a, b) => b.score - a.score);
  const kept: Box[] = [];
  for (const box of found) if (kept.every((k) => overlap(k, box) <= iou)) kept.push(box);
  return kept;
}

function overlap(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const hgt = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = w * hgt;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union <= 0 ? 0 : inter / union;
}

/** Top classes by softmax of logits (or the values as they are when they already sum to one). */
export function topClasses(values: number[], k = 5): { index: number; p: number }[] {
  const sum = values.reduce((a, v) => a + v, 0);
  const isProb = values.every((v) => v >= 0 && v <= 1) && Math.abs(sum - 1) < 1e-3;
  let probs = values;
  if (!isProb) {
    const max = Math.max(...values);
    const exps = values.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, v) => a + v, 0);
    probs = exps.map((v) => v / total);
  }
  return probs.map((p, index) => ({ index, p })).sort((a, b) => b.p - a.p).slice(0, k);
}

/** Draws the picture with boxes (normalised corners) and an optional caption onto the canvas. */
export function drawResult(canvas: HTMLCanvasElement, image: CanvasImageSource & { width: number; height: number }, boxes: Box[], caption?: string): void {
  const scale = Math.min(1, 800 / image.width);
  canvas.width = Math.round(image.width * scale);
  canvas.height = Math.round(image.height * scale);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 3;
  ctx.font = '14px sans-serif';
  for (const b of boxes) {
    const x = b.x1 * canvas.width;
    const y = b.y1 * canvas.height;
    ctx.strokeStyle = '#00e676';
    ctx.strokeRect(x, y, (b.x2 - b.x1) * canvas.width, (b.y2 - b.y1) * canvas.height);
    ctx.fillStyle = '#00e676';
    ctx.fillText(b.score.toFixed(2), x + 2, Math.max(12, y - 4));
  }
  if (caption) {
    ctx.fillStyle = 'rgba(0,0,0,0.65)';
    ctx.fillRect(0, 0, canvas.width, 24);
    ctx.fillStyle = '#fff';
    ctx.fillText(caption, 6, 17);
  }
}
