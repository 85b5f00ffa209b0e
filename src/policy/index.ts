/**
 * Romana policies: the 2.x model, validation, conversion from the 1.x format, and the names
 * (chain hashes, tenant set names) the enforcer derives from them. Pure: no I/O.
 *
 * @example
 * import { parsePolicyInput, policyChainName } from './policy/index.ts';
 * const [policy] = parsePolicyInput(JSON.parse(body)); // throws PolicyProblemsError
 * policyChainName(policy); // 'ROMANA-P-…'
 */
export {
  DIRECTIONS,
  VALID_COMBINATIONS,
  isValidCombination,
  peerTypeOf,
  targetTypeOf,
} from './model.ts';
export type {
  Combination,
  Direction,
  Endpoint,
  IngressEntry,
  PeerType,
  Policy,
  PortRange,
  RomanaPolicy,
  Rule,
  TargetType,
} from './model.ts';
export { MAX_ICMP_TYPE, MAX_PORT, PROTOCOLS, protocolFamily, ruleProblems } from './rules.ts';
export {
  familySetName,
  forFamily,
  ND_RULES,
  ND_TYPES,
  POLICY_FAMILIES,
  ruleFamily,
  setPrefix,
} from './family.ts';
export { parsePolicyCidr } from './cidr.ts';
export { validatePolicies, validatePolicy, validateRomanaPolicy } from './validate.ts';
export { isKubePolicy, NAMESPACE_NAME_LABEL, podIps } from './kube-model.ts';
export type {
  IpBlock,
  KubeEgressRule,
  KubeIngressRule,
  KubeNamespace,
  KubePeer,
  KubePod,
  KubePolicy,
  KubePort,
  KubeProtocol,
  LabelRequirement,
  LabelSelector,
  PolicyType,
  SelectorOperator,
} from './kube-model.ts';
export type { PoliciesValidation, PolicyValidation } from './validate.ts';
export { MAX_ID_LENGTH } from './shape.ts';
export { convertV1, normalizePolicyInput, parsePolicyInput, v1WrapperKey } from './convert.ts';
export type { ConversionResult } from './convert.ts';
export { policyCanonicalString, policyChainName, policyHash, tenantSetName } from './hash.ts';
export { PolicyProblemsError } from './errors.ts';
export {
  BASE_CHAIN_NAMES,
  formatIptablesRestore,
  MAX_RENDERED_ENTRIES,
  renderDesiredState,
  Renderer,
} from './render.ts';
export type { Chain, ChainRule, DesiredState, SkippedPolicy } from './render.ts';
export { LOCAL_BLOCKS_SET, makeBlockSets, targetValid } from './render-sets.ts';
export type { IpSet, RenderBlock } from './render-sets.ts';
export { Firewall, formatPlan, isEmptyPlan, planFirewall } from './firewall.ts';
export type { ApplyOptions, FirewallPlan, FirewallState, FirewallTarget } from './firewall.ts';
