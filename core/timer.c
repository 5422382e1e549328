/*
 * timer.c -- one binary min-heap of deadlines for the whole process: task sleeps,
 * poll intervals and retry backoffs. Timers live inside their owners (no allocation
 * per timer); the heap stores pointers and each timer knows its slot for O(log n)
 * removal when a task is cancelled.
 */
#include <stdlib.h>
#include <time.h>

#include "evalua.h"

#define UNARMED ((size_t)-1)

static Timer **heap;
static size_t heap_len, heap_cap;

double clock_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void place(size_t i, Timer *t) {
  heap[i] = t;
  t->index = i;
}

static void sift_up(size_t i) {
  Timer *t = heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap[parent]->when <= t->when) break;
    place(i, heap[parent]);
    i = parent;
  }
  place(i, t);
}

static void sift_down(size_t i) {
  Timer *t = heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= heap_len) break;
    if (child + 1 < heap_len && heap[child + 1]->when < heap[child]->when) child++;
    if (t->when <= heap[child]->when) break;
    place(i, heap[child]);
    i = child;
  }
  place(i, t);
}

void timer_init(Timer *t, void (*fire)(Timer *)) {
  t->when = 0;
  t->index = UNARMED;
  t->fire = fire;
}

int timer_armed(const Timer *t) { return t->index != UNARMED; }

void timer_disarm(Timer *t) {
  size_t i = t->index;
  Timer *last;
  if (i == UNARMED) return;
  t->index = UNARMED;
  last = heap[--heap_len];
  if (i == heap_len) return;
  place(i, last);
  if (i > 0 && heap[(i - 1) / 2]->when > last->when) sift_up(i);
  else sift_down(i);
}

void timer_arm(Timer *t, double when) {
  timer_disarm(t);
  if (heap_len == heap_cap) {
    size_t cap = heap_cap ? heap_cap * 2 : 64;
    Timer **grown = realloc(heap, cap * sizeof *grown);
    if (grown == NULL) abort();
    heap = grown;
    heap_cap = cap;
  }
  t->when = when;
  heap[heap_len] = t;
  t->index = heap_len++;
  sift_up(t->index);
}

double timer_next_wait(double now) {
  if (heap_len == 0) return -1;
  return heap[0]->when > now ? heap[0]->when - now : 0;
}

void timer_fire_expired(double now) {
  /* A fired timer may re-arm itself or others; each pass takes the current root. */
  while (heap_len > 0 && heap[0]->when <= now) {
    Timer *t = heap[0];
    timer_disarm(t);
    t->fire(t);
  }
}

size_t timer_count(void) { return heap_len; }

void timer_shutdown(void) {
  free(heap);
  heap = NULL;
  heap_len = heap_cap = 0;
}
