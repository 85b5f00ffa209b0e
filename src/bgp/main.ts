import { notYet } from '../not-yet.ts';

export const main = notYet('romana-route-publisher', 'not yet filed');
