/**
 * Switches set from the environment. Commander turns a boolean option on when its variable is
 * set at all, whatever the value: `ROMANA_AGENT_POLICY=false` would enable policy. Programs
 * call `readBooleanEnv` from a `preAction` hook instead, so that a switch's variable is read as
 * a yes or a no, and anything else is refused naming the variable and its value.
 */
import { InvalidArgumentError, type Command } from 'commander';

const YES = new Set(['1', 'true', 'yes', 'on']);
const NO = new Set(['', '0', 'false', 'no', 'off']);

/**
 * `true` for 1/true/yes/on, `false` for empty/0/false/no/off (any case, trimmed).
 * @throws InvalidArgumentError naming `variable` and the value otherwise.
 */
export function parseSwitch(variable: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (YES.has(v)) return true;
  if (NO.has(v)) return false;
  throw new InvalidArgumentError(
    `${variable}: '${value}' is not a switch value (true/false, 1/0, yes/no, on/off)`,
  );
}

/**
 * Re-reads every boolean option of `cmd` that took its value from its environment variable:
 * on for a yes, off for a no (a `--no-x` option's variable set to yes turns `x` off).
 */
export function readBooleanEnv(cmd: Command, env: NodeJS.ProcessEnv = process.env): void {
  for (const opt of cmd.options) {
    if (opt.required || opt.optional || opt.envVar === undefined) continue;
    const key = opt.attributeName();
    if (cmd.getOptionValueSource(key) !== 'env') continue;
    const on = parseSwitch(opt.envVar, env[opt.envVar] ?? '');
    cmd.setOptionValueWithSource(key, opt.negate ? !on : on, 'env');
  }
}
