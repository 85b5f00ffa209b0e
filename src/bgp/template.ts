/**
 * Operator templates (`--template FILE`): an `eta` template rendered instead of the default
 * configuration, for sites that need BIRD settings of their own. The template sees `it`, a
 * `TemplateData`: the typed parts of the default configuration, the default configuration as
 * text (`it.defaultConfig`, to include whole and add to) and the render functions, so a
 * template can reuse the pieces it keeps. Output is not escaped (BIRD is not HTML).
 *
 * @example a template that keeps the default and adds a route server session
 * <%= it.defaultConfig %>
 * protocol bgp rs { local as <%= it.localAs %>; neighbor 10.9.9.9 as 65000; multihop 4;
 *   ipv4 { import none; export filter romana_export4; }; }
 */
import { Eta } from 'eta';
import { RomanaError } from '../errors.ts';
import {
  peerProtocol,
  renderBirdConfig,
  renderFilter,
  renderKernel,
  renderPeer,
  renderStatic,
  type BirdConfig,
} from './render.ts';

export interface TemplateData extends BirdConfig {
  /** The default configuration for the same input. */
  defaultConfig: string;
  /** The announced prefixes, as CIDR text. */
  prefixes: string[];
  render: {
    static: typeof renderStatic;
    filter: typeof renderFilter;
    kernel: typeof renderKernel;
    peer: typeof renderPeer;
    peerProtocol: typeof peerProtocol;
  };
}

const eta = new Eta({ autoEscape: false, autoTrim: false, cache: false });

/** A template that could not be rendered (syntax or runtime error), with eta's message. */
export class TemplateError extends RomanaError {
  constructor(file: string, cause: unknown) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super('InvalidInput', `template ${file}: ${msg.split('\n').slice(0, 6).join(' | ')}`, {
      resourceType: 'template',
      resourceId: file,
    });
    this.name = 'TemplateError';
  }
}

/** The data a template sees for configuration `c`. */
export function templateData(c: BirdConfig): TemplateData {
  return {
    ...c,
    defaultConfig: renderBirdConfig(c),
    prefixes: c.announcements.map((a) => a.prefix),
    render: {
      static: renderStatic,
      filter: renderFilter,
      kernel: renderKernel,
      peer: renderPeer,
      peerProtocol,
    },
  };
}

/**
 * Renders template text `source` (read from `file`, named in errors) for configuration `c`;
 * throws `TemplateError` when eta cannot compile or run it.
 */
export function renderTemplate(source: string, file: string, c: BirdConfig): string {
  try {
    return eta.renderString(source, templateData(c));
  } catch (err) {
    throw new TemplateError(file, err);
  }
}
