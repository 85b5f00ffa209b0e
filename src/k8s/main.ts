import { notYet } from '../not-yet.ts';

export const main = notYet('romana-listener', 'not yet filed');
