/**
 * Playback: walks the logged steps at a chosen speed, looping. Before each move it waits until the
 * next step's images are loaded (so frames never flash half-drawn) and starts loading a few steps
 * further ahead, so a steady speed does not stall on the network.
 */
const AHEAD = 4; // steps loaded beyond the next one

export function createPlayback({ steps, current, prepare, go, onPlaying }) {
  let playing = false;
  let speed = 2; // steps per second
  let timer = null;
  let generation = 0;

  async function tick(token) {
    const list = steps();
    if (list.length < 2) return stop();
    const index = list.indexOf(current());
    const at = (offset) => list[(index + offset + list.length) % list.length];
    for (let offset = 2; offset <= AHEAD + 1; offset++) prepare(at(offset)).catch(() => {});
    const started = performance.now();
    try {
      await prepare(at(1));
    } catch {
      return stop(); // the step cannot load: the view shows why once it is stepped to by hand
    }
    if (token !== generation) return;
    go(at(1));
    timer = setTimeout(() => tick(token), Math.max(0, 1000 / speed - (performance.now() - started)));
  }

  function start() {
    if (playing) return;
    playing = true;
    onPlaying(true);
    tick(++generation);
  }

  function stop() {
    clearTimeout(timer);
    generation++;
    if (!playing) return;
    playing = false;
    onPlaying(false);
  }

  return {
    toggle: () => (playing ? stop() : start()),
    stop,
    setSpeed(stepsPerSecond) {
      speed = stepsPerSecond;
    },
    isPlaying: () => playing,
  };
}
