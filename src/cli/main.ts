import { notYet } from '../not-yet.ts';

export const main = notYet('romana', 'issue 5');
