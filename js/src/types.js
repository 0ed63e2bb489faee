// JSDoc mirror of the widget state. The contract is js/STATE.md; the Python side is
// gradviz/view/_state.py (builds it) and gradviz/view/_widget.py (the synced traits).
// Keep the three in step.

/**
 * Synced traits of `GraphWidget` (gradviz/view/_widget.py).
 * @typedef {object} WidgetTraits
 * @property {Graph} graph             py -> js
 * @property {DataView} edge_norms     py -> js: float32 LE, one per edge, NaN = not captured
 * @property {DataView} hists          py -> js: float32 LE, HIST_BINS per row
 * @property {string} selected         js -> py: the clicked node id ("" = none)
 */

/**
 * @typedef {"ok"|"red"|"frozen"|"zero"|"nonfinite"} Severity
 */

/**
 * @typedef {object} Graph
 * @property {number} version
 * @property {string} kind
 * @property {string} title
 * @property {Record<string, string>} palette
 * @property {{severity: string, label: string}[]} legend
 * @property {GraphNode[]} nodes
 * @property {{source: string, target: string, kind: "grad"|"cut"|"birth"}[]} edges
 * @property {{path: string, type: string}[]} modules
 * @property {Verdict[]} verdicts
 * @property {string[]} notes
 * @property {{type: string, message: string, where: string|null, kind: string, explanation: string|null}|null} error
 */

/**
 * @typedef {object} GraphNode
 * @property {string} id
 * @property {"loss"|"op"|"param"|"leaf"|"cut"|"birth"} kind
 * @property {string} label
 * @property {string} module
 * @property {Severity|null} severity
 * @property {string|null} where
 * @property {string|null} code
 * @property {number|null} verdict
 * @property {TensorInfo|null} tensor
 * @property {{forward: string, inputs: number[][], outputs: number[][], grad_norm_in: number|null}|null} op
 * @property {{kind: "nan"|"inf", phase: string, op: string, detail: string, masked_by: string|null, masked_where: string|null}|null} [birth]
 * @property {boolean} [moduleInferred]   set by graph-index.js when `module` was placed, not traced
 */

/**
 * @typedef {object} TensorInfo
 * @property {string} name
 * @property {number[]} shape
 * @property {string} dtype
 * @property {string} device
 * @property {boolean} requires_grad
 * @property {boolean} is_leaf
 * @property {string|null} grad_fn
 * @property {string} module
 * @property {Summary|null} value
 * @property {Summary|null} grad
 */

/**
 * @typedef {object} Summary
 * @property {number[]} shape
 * @property {string} dtype
 * @property {string} device
 * @property {number} numel
 * @property {number|null} min
 * @property {number|null} max
 * @property {number|null} mean
 * @property {number|null} std
 * @property {number|null} norm
 * @property {number|null} zeros
 * @property {number|null} nan
 * @property {number|null} inf
 * @property {boolean} sampled
 * @property {number} hist   row index into `hists`, -1 = none
 */

/**
 * @typedef {object} Verdict
 * @property {string} name
 * @property {string} cause
 * @property {Severity} severity
 * @property {string|null} where
 * @property {string} message
 * @property {string} fix
 * @property {number|null} grad_norm
 * @property {string|null} node
 */

export const HIST_BINS = 16;
