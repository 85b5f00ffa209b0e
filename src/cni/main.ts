import { notYet } from '../not-yet.ts';

export const main = notYet('romana-cni', 'issue 6');
