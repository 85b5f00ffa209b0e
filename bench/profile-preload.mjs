// Loaded with `--import` into the process `npm run profile` samples (bench/profile.ts): the
// first SIGUSR2 starts V8's sampling profiler, the second stops it and writes the profile to
// $ROMANA_PROFILE_OUT, then answers on stderr. Start-up and warm-up stay out of the profile.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env.ROMANA_PROFILE_OUT;
const session = new Session();
session.connect();
let running = false;
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.enable', () => session.post('Profiler.start'));
    return;
  }
  running = false;
  session.post('Profiler.stop', (err, res) => {
    if (err === null) writeFileSync(out, JSON.stringify(res.profile));
    process.stderr.write(err === null ? 'profile written\n' : `profile not written: ${err}\n`);
  });
});
