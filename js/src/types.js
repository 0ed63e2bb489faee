// JSDoc mirror of the widget state, checked by `npm run typecheck` (tsc --checkJs). The contract is
// js/STATE.md; the Python side is gradviz/view/_state.py (builds `graph`), gradviz/view/_widget.py
// (the synced traits of GraphWidget), gradviz/view/_watch_state.py (builds the watch traits,
// WATCH_TRAITS) and gradviz/view/_watch_widget.py (MonitorWidget). Keep them in step.
//
// The one piece of code here decodes the one wire type JSON cannot carry as is: numbers that may
// be NaN or infinite (readNumber).

/**
 * A float from Python that may be non-finite. JSON has no NaN/Inf, so Python (`_num` in
 * gradviz/view/_state.py) sends them as the strings "nan", "inf", "-inf"; null means "not computed".
 * Read it with readNumber() before using it as a number.
 * @typedef {number|"nan"|"inf"|"-inf"|null} WireNumber
 */

/**
 * The number a WireNumber stands for: NaN, Infinity, -Infinity for the strings Python sends, null
 * for "not computed" (and for anything that is not part of the contract).
 * @param {WireNumber|undefined} x
 * @returns {number|null}
 */
export function readNumber(x) {
  if (typeof x === "number") return x;
  if (x === "nan") return NaN;
  if (x === "inf") return Infinity;
  if (x === "-inf") return -Infinity;
  return null;
}

/**
 * Synced traits of `GraphWidget` (gradviz/view/_widget.py). Bytes traits arrive as DataViews, in
 * the notebook (anywidget) as in the standalone page (gradviz/view/_html.py).
 * @typedef {object} GraphTraits
 * @property {Graph} graph             py -> js
 * @property {DataView} edge_norms     py -> js: float32 LE, one per edge, NaN = not captured
 * @property {DataView} hists          py -> js: float32 LE, `graph.hist_bins` per row
 * @property {string} selected         js -> py: the clicked node id ("" = none)
 * @property {number} [scale]          py <-> js: display scale, 1 to 2 (0 or absent, as in a saved page: the one the browser remembers)
 */

/**
 * Synced traits of `MonitorWidget` (gradviz/view/_watch_widget.py; built by build_watch_state in
 * gradviz/view/_watch_state.py, whose WATCH_TRAITS are the data traits below; contract: js/STATE.md,
 * "Watch widget state"). The graph traits are those of GraphTraits, `{}` and empty bytes until the
 * first backward is captured.
 * @typedef {object} WatchTraits
 * @property {WatchTimeline|EmptyObject} timeline  py -> js (`{}`: not a watch widget)
 * @property {DataView} steps          py -> js: int32 LE, one per row
 * @property {DataView} grad_norm      py -> js: float32 LE [rows, params], NaN = no value
 * @property {DataView} param_norm     py -> js: float32 LE [rows, params]
 * @property {DataView} update_ratio   py -> js: float32 LE [rows, params]
 * @property {DataView} state          py -> js: uint8 [rows, params], see watch/states.js
 * @property {Graph|EmptyObject} graph py -> js: the graph of the first backward, `{}` until captured
 * @property {DataView} edge_norms     py -> js: as GraphTraits
 * @property {DataView} hists          py -> js: as GraphTraits
 * @property {Graph|EmptyObject} replay  py -> js: the graph of the first NaN/Inf step replayed under trace (`{}`: none)
 * @property {DataView} replay_edge_norms  py -> js: as edge_norms, for `replay`
 * @property {DataView} replay_hists   py -> js: as hists, for `replay`
 * @property {DataView} headroom       py -> js: float32 LE [rows, params], precision headroom in bits (NaN: none); empty: nothing charted
 * @property {number} step             js <-> py: selected row, -1 = the latest
 * @property {string} selected         js -> py: the clicked parameter's name ("" = none)
 */

/**
 * A JSON object with no keys (a Python `{}`).
 * @typedef {Record<string, never>} EmptyObject
 */

/**
 * The anywidget models of the two widgets.
 * @typedef {import("@anywidget/types").AnyModel<GraphTraits>} GraphModel
 * @typedef {import("@anywidget/types").AnyModel<WatchTraits>} WatchModel
 */

/**
 * What a view needs of a model: anywidget's model, or a stand-in (the standalone page's, the watch
 * view's graph panel's).
 * @template {Record<string, any>} T
 * @typedef {Pick<import("@anywidget/types").AnyModel<T>, "get"|"set"|"on"|"off"|"save_changes">} ModelLike
 */

/**
 * The `timeline` trait of MonitorWidget.
 * @typedef {object} WatchTimeline
 * @property {number} version
 * @property {string[]} names          columns, in model order
 * @property {string[]} modules        module path of each column
 * @property {(string|null)[]} nodes   graph node id of each column (null: not in the graph)
 * @property {boolean[]} frozen        requires_grad False, per the first backward's graph
 * @property {(boolean|null)[]} moves  did the optimizer change it at a measured step (null: unknown)
 * @property {number} rows
 * @property {number} every
 * @property {number} stride
 * @property {number|null} weights_every  update ratios measured every this many recorded steps (null: never)
 * @property {{step: number, name: string}|null} first_nonfinite
 * @property {WatchForensics|null} forensics  where the first NaN/Inf was born (watch(..., forensics=True)), null: no NaN yet, or not known
 * @property {WatchHeadroom|null} headroom  precision headroom of the latest recorded step (null: not measured, or a run folder without headroom.json)
 * @property {{first: string|null, replay: string|null}} loss_root  the root node of `graph` / `replay` when it is the loss the model computes in its forward (null: the model's output, or no graph)
 * @property {number} vanish           a finite grad norm below this is "vanishing"
 * @property {number} explode          a jump above explode x the running median is "exploding"
 * @property {boolean} live
 * @property {string|null} stopped  gradviz's own error stopped the recording: Python's sentence (NOTE [fail-safe]); null: it did not
 */

/**
 * `timeline.forensics`: the first NaN/Inf step, replayed under trace (gradviz/view/_watch_forensics.py).
 * @typedef {object} WatchForensics
 * @property {number} step
 * @property {boolean} replayed      the `replay` traits hold that step's graph
 * @property {boolean} from_loss     the gradient arriving at the model's output was already NaN/Inf
 * @property {WatchBirth[]} births   the replay's births, first first (at most 8)
 * @property {number} births_total
 * @property {string} reason         why there is no replay, or why it found no birth ("" = none)
 * @property {string} text           the banner's sentence
 * @property {string} title          the replayed graph's title ("" = no replay)
 */

/**
 * `timeline.headroom`: how far each gradient is from its dtype's largest finite value
 * (gradviz/view/_watch_headroom.py; NOTE [precision headroom] in gradviz/capture/_headroom.py).
 * @typedef {object} WatchHeadroom
 * @property {number} step                       the latest recorded step of the records (-1: none)
 * @property {(HeadroomParam|null)[]} params     per column: its Headroom record (null: no gradient yet)
 * @property {boolean[]} charted                 per column: the `headroom` trait holds its series (half precision, or flagged)
 * @property {number[]} flagged                  columns heading for overflow, closest to it first
 * @property {string} title                      the banner line's title ("" = none flagged)
 * @property {string} text                       the banner line's sentence ("" = none flagged)
 * @property {string} note                       why it cannot be shown (a run folder's headroom.json left out; "" = none)
 */

/**
 * One parameter's headroom at the latest recorded step: the fields of gradviz.records.Headroom, and its words.
 * @typedef {object} HeadroomParam
 * @property {string} name
 * @property {string} dtype          "float16", "bfloat16", "float32", ...
 * @property {WireNumber} limit      the dtype's largest finite value
 * @property {number} step
 * @property {WireNumber} peak       the gradient's largest magnitude (exact), or its 2-norm (an upper bound)
 * @property {WireNumber} bits       log2(limit / peak)
 * @property {boolean} exact         peak measured (half precision); else bounded by the norm
 * @property {WireNumber} trend      bits gained per step (negative: shrinking; null: too few steps)
 * @property {WireNumber} steps_left steps until overflow at that trend (null: not shrinking)
 * @property {number|null} flagged_at  the step it was flagged as heading for overflow (null: never)
 * @property {WireNumber} underflow  fraction of values below the smallest normal (half precision; else null)
 * @property {WireNumber} weight_bits  the same headroom of the weights themselves (half precision; else null)
 * @property {string} text           Headroom.text(): the inspector's sentence
 */

/**
 * One birth of a replay: where a NaN/Inf first appeared.
 * @typedef {object} WatchBirth
 * @property {"nan"|"inf"} kind
 * @property {"forward"|"backward"|"input"} phase
 * @property {string} op
 * @property {string|null} where     full path:line
 * @property {string|null} short     path:line as labels show it
 * @property {string|null} code      the source line
 * @property {string} detail
 * @property {string|null} node      its marker's id in `replay`
 */

/**
 * @typedef {"ok"|"red"|"frozen"|"zero"|"nonfinite"} Severity
 */

/**
 * @typedef {object} GraphEdge
 * @property {string} source
 * @property {string} target
 * @property {"grad"|"cut"|"birth"} kind
 */

/**
 * @typedef {object} Graph
 * @property {number} version
 * @property {string} kind
 * @property {string} title
 * @property {Record<string, string>} palette   CSS colours by severity and by part ("op", "loss", "cut", "leaf")
 * @property {{severity: Severity, label: string}[]} legend
 * @property {GraphNode[]} nodes
 * @property {GraphEdge[]} edges
 * @property {{path: string, type: string}[]} modules
 * @property {Verdict[]} verdicts
 * @property {string[]} notes
 * @property {GraphError|null} error
 * @property {number} hist_bins        bins per row of the `hists` trait
 */

/**
 * @typedef {object} GraphError
 * @property {string} type
 * @property {string} message
 * @property {string|null} where
 * @property {string} kind             machine key; never shown
 * @property {string|null} explanation
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
 * @property {number|null} verdict     index into graph.verdicts
 * @property {TensorInfo|null} tensor
 * @property {OpInfo|null} op
 * @property {BirthInfo|null} birth
 * @property {WhatIfInfo|null} whatif   cut markers: what removing that cut would reach
 * @property {boolean} [moduleInferred]   set by graph-index.js when `module` was placed, not traced
 * @property {number|null} [firstVerdict] set by watch/graph-panel.js: the first pass's `verdict`
 */

/**
 * @typedef {object} OpInfo
 * @property {string|null} forward
 * @property {number[][]} inputs
 * @property {number[][]} outputs
 * @property {WireNumber} grad_norm_in   norm of the gradient that reached this node
 */

/**
 * @typedef {object} WhatIfInfo
 * @property {string} text                    the what-if in words (or why the cut cannot be removed)
 * @property {boolean} removable
 * @property {string[]} reached               param node ids that would be reached
 * @property {Object<string, string>} still   param node id -> why it would still not be reached
 */

/**
 * @typedef {object} BirthInfo
 * @property {"nan"|"inf"} kind
 * @property {string} phase
 * @property {string} op
 * @property {string} detail
 * @property {string|null} masked_by
 * @property {string|null} masked_where
 */

/**
 * @typedef {object} TensorInfo
 * @property {string} name
 * @property {number[]} shape
 * @property {string|null} dtype
 * @property {string|null} device
 * @property {boolean} requires_grad
 * @property {boolean} is_leaf
 * @property {string|null} grad_fn
 * @property {string} module
 * @property {Summary|null} value
 * @property {Summary|null|undefined} grad   undefined: the view did not record it (the watch view)
 */

/**
 * @typedef {object} Summary
 * @property {number[]} shape
 * @property {string} dtype
 * @property {string} device
 * @property {number} numel
 * @property {WireNumber} min
 * @property {WireNumber} max
 * @property {WireNumber} mean
 * @property {WireNumber} std
 * @property {WireNumber} norm
 * @property {boolean} norm_estimated   `norm` estimated from the sample (large weights)
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
 * @property {WireNumber} grad_norm
 * @property {string|null} node
 */
