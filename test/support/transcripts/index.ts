export * from './recorded.js';
export * from './faults.js';
export { transcriptFromText, tokenize, type FromTextOptions } from './from-text.js';
export {
  DONE,
  delay,
  frame,
  goJson,
  head,
  pyJson,
  shapeFor,
  write,
  azureShape,
  llamacppShape,
  ollamaShape,
  openaiShape,
  vllmShape,
  type Flavor,
  type Shape,
  type ShapeOptions,
} from './shapes.js';
