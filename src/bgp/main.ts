import { notYet } from '../not-yet.ts';

export const main = notYet(
  'romana-route-publisher',
  'not yet filed',
  'The route publisher, on nodes that speak BGP: renders a BIRD 2 configuration announcing\n' +
    "this host's address blocks (or its prefix group) and reloads BIRD when they change.",
);
