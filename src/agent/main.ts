import { notYet } from '../not-yet.ts';

export const main = notYet('romana-agent', 'issue 6');
