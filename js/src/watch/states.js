// The `state` codes of the watch arrays (gradviz._history.GradState): what `.grad` held.
export const STATE = Object.freeze({ none: 0, zero: 1, finite: 2, nonfinite: 3 });
