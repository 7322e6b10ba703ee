/**
 * A synth-time error's message, as thrown by a construct: `<construct path>: <prop>: <problem and fix>`.
 * Takes a pattern written for the part after the path (`/^port: 0 is not a TCP port/`).
 */
export function atPath(path: string, message: RegExp): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(message.source.replace(/^\^/, `^${escaped}: `), message.flags);
}

/** The same, for a construct directly in the test chart (`test/<id>`) whose id the table does not fix. */
export function inTestChart(message: RegExp): RegExp {
  return new RegExp(message.source.replace(/^\^/, '^test/[^/:]+: '), message.flags);
}
